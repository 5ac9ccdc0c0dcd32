"""Where the lake already knows a path: File, ProcessedFile, or a queued UploadJob.

``put`` refuses paths the lake holds with other bytes and recognises a re-run by
paths it holds with the same bytes; the upload server checks File again before it
uploads, so a stored object is never replaced under a registered row.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from labdata.catalog.expr.keys import KeyList

__all__ = ["KnownCopy", "registered_copies"]


@dataclass(frozen=True)
class KnownCopy:
    """A registration of a path: in which table, with which MD5, and the job (for AssignedFiles)."""

    where: str
    md5: str | None
    job_id: int | None = None
    job_status: str | None = None


def registered_copies(paths: list[str], storage: str) -> dict[str, list[KnownCopy]]:
    """For each of ``paths`` the lake knows (in File of ``storage``, ProcessedFile or AssignedFiles), where."""
    from labdata.schema.general import File, ProcessedFile, UploadJob

    known: dict[str, list[KnownCopy]] = {}
    if not paths:
        return known
    wanted = KeyList(pa.table({"file_path": paths}))
    stored = File & {"storage": storage} & wanted
    for table, name in ((stored, "File"), (ProcessedFile & wanted, "ProcessedFile")):
        for path, md5 in zip(*table.fetch("file_path", "file_md5", order_by=None), strict=True):
            known.setdefault(str(path), []).append(KnownCopy(name, md5))
    assigned = (UploadJob * UploadJob.AssignedFiles) & KeyList(pa.table({"src_path": paths}))
    rows = assigned.fetch("src_path", "src_md5", "job_id", "job_status", as_dict=True, order_by=None)
    for row in rows:
        path = str(row["src_path"])
        if row["job_status"] == "COMPLETED" and path not in known:  # uploaded, then its File row deleted
            continue
        known.setdefault(path, []).append(KnownCopy(f"upload job {row['job_id']} ({row['job_status']})",
                                                    row["src_md5"], int(row["job_id"]), row["job_status"]))
    return known
