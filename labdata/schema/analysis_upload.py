"""``AnalysisFile.upload_files``: analysis outputs to the analysis storage, each with its row.

An ``upload`` intent is recorded before the objects are stored and dropped in the
transaction that inserts their rows (:mod:`labdata.schema.file_objects`), so a crash
leaves no object that nothing names; the same call run again finishes the work.

The two steps are public for callers that register the files together with other rows
in one transaction of their own (``SpikeSorting.add_kilosort``): :func:`stage_analysis_files`
stores the objects (no row yet), :func:`register_staged` inserts their rows (joining the
caller's transaction), and :func:`discard_staged` deletes the objects again when the
staging or that transaction failed.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from labdata.catalog.expr.keys import KeyList
from labdata.core.errors import FileConflictError
from labdata.schema.file_objects import drop_intents, finish_object_deletions, record_intents
from labdata.stores import open_store
from labdata.stores.parallel import transfer_all

__all__ = ["StagedFiles", "discard_staged", "register_staged", "stage_analysis_files", "upload_analysis_files"]


@dataclass(frozen=True)
class StagedFiles:
    """Objects stored in the analysis storage whose rows are not inserted yet (their upload intents are recorded)."""

    rows: list[dict[str, Any]]

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """``(storage, file_path)`` of each object."""
        return [(row["storage"], row["file_path"]) for row in self.rows]

    @property
    def keys(self) -> list[dict[str, str]]:
        """The AnalysisFile keys (``file_path``, ``storage``)."""
        return [{"file_path": row["file_path"], "storage": row["storage"]} for row in self.rows]


def upload_analysis_files(table: Any, sources: list[Path], paths: list[str], *, force: bool,
                          progress: bool) -> list[dict[str, str]]:
    """Implement :meth:`AnalysisFileMethods.upload_files` for the files ``sources`` stored at ``paths``."""
    context = table.context
    _require_files(sources)
    existing = registered_at(table, paths)
    if existing:
        if not force:
            raise FileConflictError(f"{len(existing)} of the files are registered already, e.g. "
                                    f"{existing.fetch('file_path', limit=1)[0]!r}.",
                                    hint="Pass force=True to replace them (their rows and objects are deleted).")
        existing.delete(safemode=False)
    staged = stage_analysis_files(table, sources, paths, progress=progress)
    context.lake.run(lambda: register_staged(table, staged))
    return staged.keys


def registered_at(table: Any, paths: list[str]) -> Any:
    """The rows of ``table`` (AnalysisFile) at ``paths`` in its storage."""
    storage = type(table).storage
    return type(table)(table.context) & KeyList(pa.table({"file_path": paths, "storage": [storage] * len(paths)}))


def stage_analysis_files(table: Any, sources: list[Path], paths: list[str], *, progress: bool) -> StagedFiles:
    """Record upload intents (committed) and store ``sources`` at ``paths``; insert no row.

    Call outside a transaction, so that the intents are committed before any object is stored.
    """
    _require_files(sources)
    storage = type(table).storage
    context = table.context
    finish_object_deletions(context)
    record_intents([(storage, p) for p in paths], "upload", context)
    sent = _send(open_store(context.prefs(), storage), sources, paths, progress)
    return StagedFiles([dict(file_path=path, storage=storage, file_size=float(s.size), file_md5=s.md5,
                             file_datetime=dt.datetime.fromtimestamp(source.stat().st_mtime, dt.UTC)
                             .replace(tzinfo=None, microsecond=0))
                        for source, path, s in zip(sources, paths, sent, strict=True)])


def register_staged(table: Any, staged: StagedFiles) -> None:
    """Insert the staged files' rows and drop their upload intents (joins the caller's transaction)."""
    type(table)(table.context).insert(staged.rows)
    drop_intents(staged.pairs, "upload", table.context)


def discard_staged(table: Any, pairs: list[tuple[str, str]]) -> None:
    """Delete the objects staged at ``pairs`` (``(storage, file_path)``), whose rows were never committed.

    Their upload intents become delete intents in one transaction, then the objects are deleted
    (an object registered meanwhile is kept), so this is safe after a staging that failed half-way.
    """
    context = table.context

    def forget() -> None:
        drop_intents(pairs, "upload", context)
        record_intents(pairs, "delete", context)

    context.lake.run(forget)
    finish_object_deletions(context)


def _require_files(sources: list[Path]) -> None:
    for source in sources:
        if not source.is_file():
            raise FileNotFoundError(f"{str(source)!r} is not a file; nothing was uploaded.")


def _send(store: Any, sources: list[Path], paths: list[str], progress: bool) -> list[Any]:
    transfers = [functools.partial(_put_one, store, source, path) for source, path in zip(sources, paths, strict=True)]
    return transfer_all(transfers, total=sum(s.stat().st_size for s in sources), desc=f"upload to {store.name}",
                        progress=progress)


def _put_one(store: Any, source: Path, path: str, tick: Any) -> Any:
    return store.put(source, path, progress=tick)
