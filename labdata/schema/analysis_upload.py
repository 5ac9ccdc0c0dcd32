"""``AnalysisFile.upload_files``: analysis outputs to the analysis storage, each with its row.

An ``upload`` intent is recorded before the objects are stored and dropped in the
transaction that inserts their rows (:mod:`labdata.schema.file_objects`), so a crash
leaves no object that nothing names; the same call run again finishes the work.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any

import pyarrow as pa

from labdata.catalog.expr.keys import KeyList
from labdata.core.errors import FileConflictError
from labdata.schema.file_objects import drop_intents, finish_object_deletions, record_intents
from labdata.stores import open_store
from labdata.stores.parallel import transfer_all

__all__ = ["upload_analysis_files"]

def upload_analysis_files(table: Any, sources: list[Path], paths: list[str], *, force: bool,
                          progress: bool) -> list[dict[str, str]]:
    """Implement :meth:`AnalysisFileMethods.upload_files` for the files ``sources`` stored at ``paths``."""
    for source in sources:
        if not source.is_file():
            raise FileNotFoundError(f"{str(source)!r} is not a file; nothing was uploaded.")
    storage = type(table).storage
    context = table.context
    existing = type(table)(context) & KeyList(pa.table({"file_path": paths, "storage": [storage] * len(paths)}))
    if existing:
        if not force:
            raise FileConflictError(f"{len(existing)} of the files are registered already, e.g. "
                                    f"{existing.fetch('file_path', limit=1)[0]!r}.",
                                    hint="Pass force=True to replace them (their rows and objects are deleted).")
        existing.delete(safemode=False)
    finish_object_deletions(context)
    pairs = [(storage, p) for p in paths]
    record_intents(pairs, "upload", context)
    sent = _send(open_store(context.prefs(), storage), sources, paths, progress)
    rows = [dict(file_path=path, storage=storage, file_size=float(s.size), file_md5=s.md5,
                 file_datetime=dt.datetime.fromtimestamp(source.stat().st_mtime, dt.UTC).replace(tzinfo=None,
                                                                                                 microsecond=0))
            for source, path, s in zip(sources, paths, sent, strict=True)]

    def register() -> None:
        type(table)(context).insert(rows)
        drop_intents(pairs, "upload", context)

    context.lake.run(register)
    return [{"file_path": p, "storage": storage} for p in paths]


def _send(store: Any, sources: list[Path], paths: list[str], progress: bool) -> list[Any]:
    transfers = [functools.partial(_put_one, store, source, path) for source, path in zip(sources, paths, strict=True)]
    return transfer_all(transfers, total=sum(s.stat().st_size for s in sources), desc=f"upload to {store.name}",
                        progress=progress)


def _put_one(store: Any, source: Path, path: str, tick: Any) -> Any:
    return store.put(source, path, progress=tick)
