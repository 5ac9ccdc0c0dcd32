"""The job table of populate: key reservations and errors, per project.

``<project>_computed.populate_job`` has one row per (table, key) that a worker
has reserved or that failed. A reservation is an insert, which the catalog
makes atomic (the primary-key check runs inside the write transaction, and
concurrent writers conflict and retry), so no two workers, on one machine or
several, ever hold the same key. A successful ``make`` deletes its row; a
failed one keeps it with status ``error``, the message and the traceback, so
other workers skip the key until the error is cleared.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import traceback
from typing import Any

from labdata.catalog.declare.registry import TableRegistry
from labdata.catalog.tables.table import Manual
from labdata.core.errors import DuplicateError

__all__ = ["JobTable", "job_registry", "key_hash"]

job_registry = TableRegistry()


@job_registry.group("computed")
class PopulateJob(Manual):
    """Reservations and errors of populate, one row per table and key."""

    definition = """
    # keys reserved by populate workers, and keys whose make failed
    table_name : varchar(255)             # the computed table, Master.Part style name
    key_hash : char(32)                   # md5 of the key as sorted JSON
    ---
    status : enum('reserved','error','ignore')
    key_json = NULL : varchar(4000)       # the key, as JSON
    error_message = '' : varchar(2047)
    error_stack = NULL : blob             # the traceback, as text
    host = '' : varchar(255)
    pid = 0 : int
    job_user = '' : varchar(255)
    job_timestamp = CURRENT_TIMESTAMP : datetime
    """


def key_hash(key: dict[str, Any]) -> str:
    """The md5 of a key as JSON with sorted names (stable across processes).

    Examples
    --------
    >>> key_hash({"b": 1, "a": "x"}) == key_hash({"a": "x", "b": 1})
    True
    """
    return hashlib.md5(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()


class JobTable:
    """The job rows of one computed table, in one context."""

    def __init__(self, table_name: str, context: Any) -> None:
        self.table_name = table_name
        self.jobs = PopulateJob(context)

    def _row(self, key: dict[str, Any], status: str) -> dict[str, Any]:
        return dict(table_name=self.table_name, key_hash=key_hash(key), status=status,
                    key_json=json.dumps(key, sort_keys=True, default=str), host=socket.gethostname(),
                    pid=os.getpid(), job_user=os.environ.get("USER", ""))

    def reserve(self, key: dict[str, Any]) -> bool:
        """Reserve ``key``; False when another worker holds it or it failed before."""
        try:
            self.jobs.insert1(self._row(key, "reserved"))
        except DuplicateError:
            return False
        return True

    def complete(self, key: dict[str, Any]) -> None:
        """Release the reservation of a key that was made."""
        (self.jobs & {"table_name": self.table_name, "key_hash": key_hash(key)}).delete()

    def error(self, key: dict[str, Any], error: BaseException) -> None:
        """Record that making ``key`` failed, with the message and the traceback."""
        row = self._row(key, "error") | dict(
            error_message=f"{type(error).__name__}: {error}"[:2047],
            error_stack="".join(traceback.format_exception(error)),
        )
        self.jobs.insert1(row, replace=True)

    def errors(self) -> list[dict[str, Any]]:
        """The failed keys of this table, with their messages."""
        return (self.jobs & {"table_name": self.table_name, "status": "error"}).fetch(as_dict=True)

    def clear_errors(self) -> int:
        """Forget the failures of this table so populate tries those keys again."""
        return sum((self.jobs & {"table_name": self.table_name, "status": "error"}).delete().values())
