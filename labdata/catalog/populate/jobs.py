"""The job table of populate: key reservations and errors, per project.

``<project>_computed.populate_job`` has one row per (table, key) that a worker
has reserved or that failed. A reservation is an insert, which the catalog
makes atomic (the primary-key check runs inside the write transaction, and
concurrent writers conflict and retry), so no two workers, on one machine or
several, ever hold the same key. A successful ``make`` deletes its row; a
failed one keeps it with status ``error``, the message and the traceback, so
other workers skip the key until the error is cleared. A reservation whose worker died on the same
host (SIGKILL, out of memory) is taken over by the next worker that reaches the key.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import traceback
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from labdata.catalog.declare.registry import TableRegistry
from labdata.catalog.tables.table import Manual
from labdata.core.errors import DuplicateError
from labdata.core.processes import process_alive

__all__ = ["JobTable", "PopulateJob", "error_message", "job_registry", "key_hash"]

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

    # DataJoint's schema.jobs methods: table_name is the computed table's name (Master.Part style)
    def reserve(self, table_name: str, key: dict[str, Any]) -> bool:
        """Reserve ``key`` of ``table_name``; False when it is reserved, failed or ignored already."""
        return JobTable(table_name, self.context).reserve(key)

    def ignore(self, table_name: str, key: dict[str, Any]) -> bool:
        """Mark ``key`` to be skipped by populate; False when it has a job row already."""
        return JobTable(table_name, self.context).reserve(key, status="ignore")

    def complete(self, table_name: str, key: dict[str, Any]) -> None:
        """Forget the job of ``key`` (made)."""
        JobTable(table_name, self.context).complete(key)

    def error(self, table_name: str, key: dict[str, Any], error_message: str, error_stack: str | None = None) -> None:
        """Record that making ``key`` failed."""
        JobTable(table_name, self.context).record_error(key, error_message, error_stack)

    def delete(self, **options: Any) -> dict[str, int]:
        """Delete these job rows, without asking (DataJoint's ``jobs.delete()``)."""
        return super().delete(**{"safemode": False, **options})


def error_message(error: BaseException) -> str:
    """DataJoint's job error message: ``KeyboardInterrupt``, ``ValueError: bad value``."""
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def key_hash(key: dict[str, Any]) -> str:
    """The md5 of a key as JSON with sorted names (stable across processes).

    Examples
    --------
    >>> key_hash({"b": 1, "a": "x"}) == key_hash({"a": "x", "b": 1})
    True
    """
    return hashlib.md5(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()


def _stale(row: dict[str, Any]) -> bool:
    """Whether a job row is the reservation of a worker that died on this host."""
    return (row["status"] == "reserved" and row["host"] == socket.gethostname()
            and not process_alive(int(row["pid"])))


class JobTable:
    """The job rows of one computed table, in one context."""

    def __init__(self, table_name: str, context: Any) -> None:
        self.table_name = table_name
        self.jobs = PopulateJob(context)

    def _row(self, key: dict[str, Any], status: str) -> dict[str, Any]:
        return dict(table_name=self.table_name, key_hash=key_hash(key), status=status,
                    key_json=json.dumps(key, sort_keys=True, default=str), host=socket.gethostname(),
                    pid=os.getpid(), job_user=os.environ.get("USER", ""))

    def reserve(self, key: dict[str, Any], status: str = "reserved") -> bool:
        """Reserve ``key``; False when another worker holds it or it failed before."""
        try:
            self.jobs.insert1(self._row(key, status))
        except DuplicateError:
            return self._take_over_stale(key, status)
        return True

    def _take_over_stale(self, key: dict[str, Any], status: str) -> bool:
        """Take over a reservation whose worker died on this host (killed mid-make: its make never committed)."""
        held = (self.jobs & {"table_name": self.table_name, "key_hash": key_hash(key)}).fetch(as_dict=True)
        if not held or not _stale(held[0]):
            return False
        self.jobs.insert1(self._row(key, status), replace=True)
        return True

    def reserve_many(self, keys: list[dict[str, Any]], limit: int | None = None,
                     made: Callable[[list[dict[str, Any]]], set[str]] | None = None,
                     ) -> tuple[list[dict[str, Any]], int]:
        """Reserve the first ``limit`` free keys of ``keys`` in one transaction.

        Keys that another live worker holds, or that failed or are ignored, are passed over, and so are the
        keys ``made(keys)`` names (by hash) in the same transaction: those another worker made since the list of
        keys was read. Reservations of dead workers on this host are taken over (as :meth:`reserve`).

        Returns
        -------
        reserved : list of dict
            The keys reserved, in their order.
        consumed : int
            How many of ``keys`` were looked at: up to the last key reserved, or all when fewer were free.
        """
        hashes = [key_hash(key) for key in keys]
        limit = len(keys) if limit is None else limit

        def work() -> list[int]:
            held = (self.jobs & {"table_name": self.table_name} & [{"key_hash": h} for h in hashes]).fetch(
                "key_hash", "status", "host", "pid", as_dict=True)
            taken = {row["key_hash"] for row in held if not _stale(row)} | (made(keys) if made else set())
            stale = {row["key_hash"] for row in held} - taken
            chosen = [i for i, h in enumerate(hashes) if h not in taken][:limit]
            self.jobs.insert([self._row(keys[i], "reserved") for i in chosen if hashes[i] not in stale])
            if stale:
                self.jobs.insert([self._row(keys[i], "reserved") for i in chosen if hashes[i] in stale],
                                 replace=True)
            return chosen

        chosen = self.jobs.context.lake.run(work) if keys and limit > 0 else []
        consumed = chosen[-1] + 1 if len(chosen) == limit and chosen else len(keys)
        return [keys[i] for i in chosen], consumed

    def release_many(self, keys: list[dict[str, Any]]) -> None:
        """Release the reservations of ``keys`` (made, or given up), in one ``DELETE`` (see :meth:`complete`)."""
        if keys:
            self._delete([key_hash(key) for key in keys])

    def complete(self, key: dict[str, Any]) -> None:
        """Release the reservation of a key that was made (in the caller's transaction, if any).

        One ``DELETE`` of the job row (nothing refers to job rows, so there is nothing to cascade to):
        populate calls it inside each key's make transaction, so a key is made and released in one commit.
        """
        self._delete([key_hash(key)])

    def _delete(self, hashes: list[str]) -> None:
        context = self.jobs.context
        schema = PopulateJob.table_schema()
        table = context.qualified(schema.tier_group, schema.sql_name)
        context.lake.forget_keys()  # the lake's cache of existing keys must not keep the deleted rows
        # the hashes join as a relation: a list of parameters costs DuckDB ~0.15 ms per value to bind
        released = pa.table({"key_hash": pa.array(hashes, pa.string())})

        def release() -> None:
            context.lake.execute(f"DELETE FROM {table} WHERE table_name = $table_name AND key_hash IN "
                                 "(SELECT key_hash FROM labdata_released)",
                                 {"table_name": self.table_name, "labdata_released": released})

        context.lake.run(release)

    def error(self, key: dict[str, Any], error: BaseException) -> None:
        """Record that making ``key`` failed, with DataJoint's message (``KeyboardInterrupt``,
        ``ValueError: bad value``) and the traceback."""
        self.record_error(key, error_message(error), "".join(traceback.format_exception(error)))

    def record_error(self, key: dict[str, Any], message: str, stack: str | None) -> None:
        """Record that making ``key`` failed with ``message``."""
        self.jobs.insert1(self._row(key, "error") | dict(error_message=message[:2047], error_stack=stack),
                          replace=True)

    def errors(self) -> list[dict[str, Any]]:
        """The failed keys of this table, with their messages."""
        return (self.jobs & {"table_name": self.table_name, "status": "error"}).fetch(as_dict=True)

    def clear_errors(self) -> int:
        """Forget the failures of this table so populate tries those keys again."""
        return sum((self.jobs & {"table_name": self.table_name, "status": "error"}).delete().values())
