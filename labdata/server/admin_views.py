"""What an admin sees through SQL: connections and their running statements, recent errors, and KILL's rule.

``SHOW PROCESSLIST`` lists every connection to an admin (one's own to others), with MySQL's columns;
``SHOW ERRORS`` lists the facade's recent errors (every account's to an admin, one's own to others), newest
first, with MySQL's ``Level``, ``Code`` and ``Message`` and then when, who and which statement; ``KILL id``
ends a connection, any for an admin, only one's own for others (MySQL's 1095).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mysql_mimic.errors import MysqlError

from labdata.server.grants import Grants

__all__ = ["FacadeError", "check_kill", "processlist", "recent_errors"]

PROCESSLIST_COLUMNS = ["Id", "User", "Host", "db", "Command", "Time", "State", "Info"]
ERROR_COLUMNS = ["Level", "Code", "Message", "Time", "User", "Statement"]


@dataclass(frozen=True)
class FacadeError:
    """One statement the facade refused or that failed."""

    time: float
    account: str
    statement: str
    code: int
    message: str


def processlist(records: Iterable[Any], grants: Grants) -> tuple[list[tuple[Any, ...]], list[str]]:
    """``SHOW PROCESSLIST`` over the facade's session records."""
    now = time.time()
    rows = [(r.connection_id, r.account, "%", None, "Query" if r.statement else "Sleep",
             int(now - (r.started or r.connected)), "executing" if r.statement else "", r.statement)
            for r in list(records) if grants.admin or r.account == grants.account]
    return rows, PROCESSLIST_COLUMNS


def recent_errors(errors: Iterable[FacadeError], grants: Grants) -> tuple[list[tuple[Any, ...]], list[str]]:
    """``SHOW ERRORS``: the facade's recent errors, newest first."""
    rows = [("Error", e.code, e.message, dt.datetime.fromtimestamp(e.time).replace(microsecond=0), e.account,
             e.statement) for e in reversed(list(errors)) if grants.admin or e.account == grants.account]
    return rows, ERROR_COLUMNS


def check_kill(target: str, records: dict[int, Any], grants: Grants) -> None:
    """Refuse ``KILL target`` unless the account is an admin or owns the connection."""
    record = records.get(int(target)) if target.isdigit() else None
    if not grants.admin and (record is None or record.account != grants.account):
        raise MysqlError(f"You are not owner of thread {target}", code=1095)
