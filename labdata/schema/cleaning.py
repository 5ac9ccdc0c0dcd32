"""Deleting local copies that the lake holds safely: ``labdata clean``.

A file under the first local path is deleted only if its path is registered
(in File, or in ProcessedFile for sources an upload rule replaced) and its MD5
equals the registered one; a copy whose bytes differ is kept and reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from labdata.catalog.expr.keys import KeyList
from labdata.stores import md5_of
from labdata.stores.transfer import PARTIAL_SUFFIX

__all__ = ["CleanReport", "clean_local_copies"]


@dataclass
class CleanReport:
    """What :func:`clean_local_copies` did: paths relative to the local root."""

    deleted: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    unregistered: int = 0


def clean_local_copies(root: Path, *, filters: tuple[str, ...] = (), dry_run: bool = False,
                       only_processed: bool = False) -> CleanReport:
    """Delete (or, with ``dry_run``, list) the registered copies under ``root`` whose MD5 matches.

    Parameters
    ----------
    root : Path
        The first local path.
    filters : tuple of str
        Only files whose relative path contains every one of these strings.
    dry_run : bool
        Delete nothing; report what would be deleted.
    only_processed : bool
        Only sources an upload rule replaced (ProcessedFile), not uploaded files (File).
    """
    from labdata.schema import File, ProcessedFile

    local = {p.relative_to(root).as_posix(): p for p in sorted(Path(root).rglob("*"))
             if p.is_file() and not p.name.endswith(PARTIAL_SUFFIX)}
    local = {rel: p for rel, p in local.items() if all(f in rel for f in filters)}
    registered: dict[str, set[str]] = {}
    if local:
        wanted = KeyList(pa.table({"file_path": list(local)}))
        for table in (ProcessedFile,) if only_processed else (File, ProcessedFile):
            paths, md5s = (table & wanted).fetch("file_path", "file_md5", order_by=None)
            for path, md5 in zip(paths, md5s, strict=True):
                registered.setdefault(str(path), set()).add(md5)
    report = CleanReport(unregistered=len(set(local) - set(registered)))
    for rel, md5s in sorted(registered.items()):
        if md5_of(local[rel]) not in md5s:
            report.mismatched.append(rel)
            continue
        report.deleted.append(rel)
        if not dry_run:
            local[rel].unlink()
    return report
