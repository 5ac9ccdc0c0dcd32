"""Keeping File rows and stored objects together when they are deleted or written.

A catalog transaction cannot include an S3 request, so each change is recorded in
the catalog before the storage is touched, in labdata's bookkeeping table
``object_intents`` (``storage``, ``file_path``, ``intent``, ``requested``):

* **delete** (``File.delete``): the rows and one ``delete`` intent per object are
  committed together; then the objects are deleted and the intents dropped. A crash
  in between leaves intents that the next ``File.delete``, ``AnalysisFile.upload_files``
  or ``labdata upload`` carries out. An object registered again in the meantime is
  kept.
* **write** (``AnalysisFile.upload_files``): an ``upload`` intent is committed before
  the object is stored and dropped in the transaction that inserts its row, so an
  object a crash left without a row is always listed (see :func:`pending_uploads`);
  running the same call again stores and registers it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pyarrow as pa

from labdata.catalog.engine.context import Context, current_context
from labdata.catalog.expr.keys import KeyList
from labdata.core.errors import StorageError
from labdata.stores import open_store

__all__ = ["drop_intents", "finish_object_deletions", "pending_uploads", "record_intents"]

_TABLE = "object_intents"
_COLUMNS = "storage VARCHAR, file_path VARCHAR, intent VARCHAR, requested TIMESTAMP"


def _intents(context: Context) -> str:
    return context.lake.internal_table(_TABLE, _COLUMNS)


def _staged(pairs: list[tuple[str, str]]) -> tuple[str, pa.Table]:
    """A unique name to register the pairs under, and the pairs as an Arrow table."""
    storages, paths = zip(*pairs, strict=True) if pairs else ((), ())
    rows = pa.table({"storage": pa.array(storages, pa.string()), "file_path": pa.array(paths, pa.string())})
    return f"labdata_intent_{uuid.uuid4().hex}", rows


def record_intents(pairs: list[tuple[str, str]], intent: str, context: Context | None = None) -> None:
    """Record ``(storage, file_path)`` pairs about to be deleted or written (joins the current transaction)."""
    _change_intents(context or current_context(), pairs,
                    "INSERT INTO {table} SELECT storage, file_path, ?, ? FROM {pairs}", [intent, dt.datetime.now()])


def drop_intents(pairs: list[tuple[str, str]], intent: str, context: Context | None = None) -> None:
    """Forget the intents of ``pairs`` (joins the current transaction)."""
    _change_intents(context or current_context(), pairs,
                    "DELETE FROM {table} t WHERE t.intent = ? AND EXISTS (SELECT 1 FROM {pairs} s "
                    "WHERE s.storage = t.storage AND s.file_path = t.file_path)", [intent])


def _change_intents(context: Context, pairs: list[tuple[str, str]], sql: str, params: list[Any]) -> None:
    """Run ``sql`` (naming ``{table}`` and the staged ``{pairs}``) in a write transaction."""
    if not pairs:
        return
    table = _intents(context)
    name, rows = _staged(pairs)
    cursor = context.lake.cursor()
    cursor.register(name, rows)
    try:
        context.lake.run(lambda: context.lake.execute(sql.format(table=table, pairs=name), params))
    finally:
        cursor.unregister(name)


def _listed(context: Context, intent: str) -> list[tuple[str, str]]:
    table = _intents(context)
    rows = context.lake.execute(f"SELECT DISTINCT storage, file_path FROM {table} WHERE intent = ? ORDER BY 1, 2",
                                [intent]).fetchall()
    return [(str(s), str(p)) for s, p in rows]


def pending_uploads(context: Context | None = None) -> list[tuple[str, str]]:
    """``(storage, file_path)`` of objects being written, or left by a crash before their row was inserted."""
    return _listed(context or current_context(), "upload")


def _registered(context: Context, pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """The pairs that File or AnalysisFile of ``context``'s lake hold."""
    from labdata.schema.general import AnalysisFile, File

    wanted = KeyList(_staged(pairs)[1])
    found: set[tuple[str, str]] = set()
    for table in (File(context), AnalysisFile(context)):
        storages, paths = (table & wanted).fetch("storage", "file_path", order_by=None)
        found.update(zip(map(str, storages), map(str, paths), strict=True))
    return found


def finish_object_deletions(context: Context | None = None) -> int:
    """Delete the objects of rows already deleted (kept if registered again); return how many were deleted.

    Raises
    ------
    StorageError
        Some objects could not be deleted; their intents stay for the next call.
    """
    context = context or current_context()
    pending = _listed(context, "delete")
    if not pending:
        return 0
    live = _registered(context, pending)
    writing = set(_listed(context, "upload"))  # a path being written again is not ours to delete
    done: list[tuple[str, str]] = []
    failures: list[str] = []
    for storage, path in pending:
        if (storage, path) in writing:
            continue
        if (storage, path) not in live and not _registered(context, [(storage, path)]):  # checked again just before
            try:
                open_store(context.prefs(), storage).delete(path)
            except (StorageError, OSError) as error:
                failures.append(f"{storage}:{path} ({error})")
                continue
        done.append((storage, path))
    drop_intents(done, "delete", context)
    if failures:
        raise StorageError(f"The rows are deleted but {len(failures)} stored object(s) are not yet, e.g. "
                           f"{failures[0]}.",
                           hint="They are recorded; the next File.delete or labdata upload deletes them. "
                                "Check the storage settings if this repeats.")
    return len(done) - len(live & set(pending))


def delete_files(query: Any, parent_delete: Any) -> dict[str, int]:
    """Delete the rows of ``query`` (a File or AnalysisFile selection, cascading) and then their objects."""
    context: Context = query.context
    lake = context.lake
    _intents(context)

    def work() -> dict[str, int]:
        rows = query.fetch("storage", "file_path", as_dict=True)
        counts = parent_delete()
        record_intents([(r["storage"], r["file_path"]) for r in rows], "delete", context)
        return counts

    counts = lake.run(work)
    finish_object_deletions(context)
    return counts
