"""``labdata put`` on a rig: copy a recording to the upload server and queue it as an UploadJob.

The steps, each safe to run again after a crash:

1. Name the files by their path relative to ``local_paths[0]`` and read the subject,
   session and dataset from ``path_rules`` (given names win). Check the rule, the
   ``upload_path``, the subject (a new one needs the fields Subject requires) and that
   no path is already in File, ProcessedFile or a queued job with other content.
2. Copy each file to ``upload_path/<its path>`` through a temporary name, hashing the
   bytes as they are read. A copy already there with the same bytes is kept.
3. In one transaction: the Subject, Session and Dataset if missing, and the UploadJob
   with its AssignedFiles (status ``ON SERVER``, waiting).

Putting the same files again after step 3 finds their job and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labdata.catalog.engine.context import current_context
from labdata.core.errors import FileConflictError, UploadError
from labdata.schema.general import DEFAULT_RAW_STORAGE
from labdata.stores import md5_of
from labdata.stores.parallel import transfer_all
from labdata.stores.transfer import copy_file
from labdata.upload.paths import parse_path_rules, relative_files, session_datetime
from labdata.upload.registered import registered_copies
from labdata.upload.rules import rule_for

__all__ = ["PutResult", "put"]

@dataclass
class PutResult:
    """What :func:`put` did: the job holding the files and whether this call created it."""

    job_id: int
    dataset: dict[str, str]
    files: list[str]
    created: bool
    status: str = "ON SERVER"
    copied_bytes: int = 0
    kept: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Copied:
    path: str
    size: int
    md5: str
    datetime: dt.datetime


def put(paths: Iterable[str | Path], *, rule: str = "none", subject_name: str | None = None,
        session_name: str | None = None, dataset_name: str | None = None, dataset_type: str | None = None,
        new_subject: dict[str, Any] | None = None, overwrite: bool = False, progress: bool = True) -> PutResult:
    """Copy files to the upload server and queue them for ``labdata upload``.

    Parameters
    ----------
    paths : iterable of path
        Files, or folders whose files are all put; all under ``local_paths[0]``.
    rule : str
        Upload rule the server applies (``none``, or one of ``upload_rules``).
    subject_name, session_name, dataset_name : str, optional
        Names of the dataset; default read from the first file's path with ``path_rules``.
    dataset_type : str, optional
        A DatasetType for a new Dataset.
    new_subject : dict, optional
        ``subject_dob``, ``subject_sex``, ``strain_name`` and ``user_name`` of a subject not in the lake yet.
    overwrite : bool
        Replace a different file already at the same place under ``upload_path``.
    progress : bool
        Show a progress bar of the bytes copied.

    Returns
    -------
    PutResult

    Raises
    ------
    UploadError, UnknownRuleError, FileConflictError, MissingAttributeError, PermissionError
        Nothing is copied or registered.
    """
    prefs = current_context().prefs()
    upload_rule = rule_for(rule, prefs.get("upload_rules"))
    target = _upload_path(prefs)
    files = relative_files(paths, prefs.local_paths[0])
    from_files = upload_rule.names_from(files)  # e.g. an NWB file's subject and session
    dataset = _dataset_names(list(files), prefs, subject_name or from_files.get("subject_name"),
                             session_name or from_files.get("session_name"),
                             dataset_name or from_files.get("dataset_name"))
    storage = prefs.get("upload_storage") or DEFAULT_RAW_STORAGE
    queued = _already_queued(files, storage)
    if queued is not None:
        return PutResult(queued[0], dataset, list(files), created=False, status=queued[1] or "")
    rows = _parent_rows(dataset, dataset_type, new_subject, prefs,
                        upload_rule.parent_rows_from(files, dataset, new_subject))
    copied, kept = _copy_all(files, target, overwrite, progress)
    job = dict(job_rule=rule, job_host=prefs.get("upload_host"), upload_storage=storage, **dataset,
               project_name=_project_or_none())
    job_id = current_context().lake.run(lambda: _register(rows, job, copied, storage))
    return PutResult(job_id, dataset, list(files), created=True,
                     copied_bytes=sum(c.size for c in copied if c.path not in kept), kept=kept)


def _upload_path(prefs: Any) -> Path:
    configured = prefs.get("upload_path")
    if not configured:
        raise UploadError("upload_path is not set: put does not know where the upload server's folder is.",
                          hint="Set upload_path to the upload server's folder as mounted on this computer.")
    path = Path(configured).expanduser()
    if not path.is_dir():
        raise UploadError(f"upload_path {configured!r} is not a reachable folder.",
                          hint="Mount the upload server's share (or fix upload_path) and try again.")
    return path


def _dataset_names(paths: list[str], prefs: Any, subject: str | None, session: str | None,
                   dataset: str | None) -> dict[str, str]:
    first = paths[0]
    parsed = parse_path_rules(first, prefs["path_rules"])
    given = {"subject_name": subject, "session_name": session, "dataset_name": dataset}
    for other in paths[1:]:
        names = parse_path_rules(other, prefs["path_rules"])
        differing = [k for k in given if not given[k] and names.get(k) != parsed.get(k)]
        if differing:
            raise UploadError(f"{first!r} and {other!r} belong to different {', '.join(differing)}s "
                              f"by path_rules {prefs['path_rules']!r}.",
                              hint="Put one dataset at a time, or name it with -a/-s/-d.")
    names = {"subject_name": subject or parsed.get("subject_name"),
             "session_name": session or parsed.get("session_name"),
             "dataset_name": dataset or parsed.get("dataset_name")}
    missing = [name for name, value in names.items() if not value]
    if missing:
        raise UploadError(f"Cannot tell the {', '.join(missing)} of {first!r} from path_rules "
                          f"{prefs['path_rules']!r}.",
                          hint="Give them with -a SUBJECT -s SESSION -d DATASET, or lay out the folders as "
                               "path_rules says.")
    return names


def _project_or_none() -> str | None:
    from labdata.schema.general import Project

    project = current_context().project
    return project if Project & {"project_name": project} else None


def _already_queued(files: dict[str, Path], storage: str) -> tuple[int, str | None] | None:
    """The job (and its status) already holding exactly these files with these bytes (a re-run), else None.

    Raises FileConflictError when some paths are registered or queued with other content,
    or when only some of them are.
    """
    known = registered_copies(list(files), storage)
    if not known:
        return None
    differing = sorted(path for path, copies in known.items() if md5_of(files[path]) not in {c.md5 for c in copies})
    if differing:
        where = ", ".join(sorted({c.where for c in known[differing[0]]}))
        raise FileConflictError(f"{len(differing)} file(s) are already in the lake with other content, "
                                f"e.g. {differing[0]!r} ({where}).",
                                hint="Files in the lake are never overwritten: rename the new files "
                                     "(e.g. another session or dataset folder) and put them again.")
    jobs = {(c.job_id, c.job_status) for copies in known.values() for c in copies if c.job_id is not None}
    if len(known) == len(files) and len(jobs) == 1:
        return jobs.pop()
    raise FileConflictError(f"{len(known)} of {len(files)} files are already in the lake, e.g. {next(iter(known))!r}.",
                            hint="Put only the files that are not in the lake yet.")


def _parent_rows(dataset: dict[str, str], dataset_type: str | None, new_subject: dict[str, Any] | None,
                 prefs: Any, from_files: dict[str, dict[str, Any] | None] | None) -> dict[str, dict[str, Any] | None]:
    """The Subject, Session and Dataset rows to insert (None for those that exist), checked now; the Subject
    and Session the rule read from the files (``from_files``) when it gives them."""
    from labdata.schema.general import Dataset, DatasetType, Session, Subject
    from labdata.schema.subjects import new_subject_row

    subject = {"subject_name": dataset["subject_name"]}
    session = {**subject, "session_name": dataset["session_name"]}
    rows: dict[str, dict[str, Any] | None] = {"subject": None, "session": None, "dataset": None}
    if from_files is not None:
        rows.update(from_files)
    elif not Subject & subject:
        rows["subject"] = new_subject_row(dataset["subject_name"], new_subject or {})
    if from_files is None and not Session & session:
        rows["session"] = {**session, "session_datetime": session_datetime(dataset, prefs["path_rules_session_date"]),
                           "experimenter": _experimenter(rows["subject"] or (Subject & subject).fetch1())}
    if dataset_type and not DatasetType & {"dataset_type": dataset_type}:
        known = ", ".join(DatasetType.fetch("dataset_type"))
        raise UploadError(f"There is no dataset type {dataset_type!r}.", hint=f"Use one of: {known}.")
    if not Dataset & dataset:
        rows["dataset"] = {**dataset, "dataset_type": dataset_type}
    return rows


def _experimenter(subject: dict[str, Any]) -> str | None:
    """Who ran a new session: the subject's responsible lab member (NWB and DANDI need an experimenter)."""
    return subject.get("user_name")


def _copy_all(files: dict[str, Path], target: Path, overwrite: bool, progress: bool) -> tuple[list[_Copied], list[str]]:
    kept: list[str] = []
    transfers = [functools.partial(_copy_one, path, source, target / path, overwrite, kept=kept)
                 for path, source in files.items()]
    copied = transfer_all(transfers, total=sum(p.stat().st_size for p in files.values()), desc="put",
                          progress=progress)
    return copied, kept


def _copy_one(path: str, source: Path, destination: Path, overwrite: bool, tick: Any, *,
              kept: list[str]) -> _Copied:
    stat = source.stat()
    when = dt.datetime.fromtimestamp(stat.st_mtime).replace(microsecond=0)
    if destination.exists():
        md5 = md5_of(source)
        if destination.samefile(source) or md5_of(destination) == md5:
            kept.append(path)
            tick(stat.st_size)
            return _Copied(path, stat.st_size, md5, when)
    if destination.exists() and not overwrite:
        raise FileConflictError(f"{str(destination)!r} already exists on the upload server with other content.",
                                hint="Add --overwrite to replace it, or rename the file.")
    sent = copy_file(source, destination, progress=tick)
    if sent.size != stat.st_size or os.path.getsize(destination) != sent.size:
        raise UploadError(f"{path!r} changed while it was copied.", hint="Wait until it is written, then put again.")
    return _Copied(path, sent.size, sent.md5, when)


def _register(rows: dict[str, dict[str, Any] | None], job: dict[str, Any], copied: list[_Copied],
              storage: str) -> int:
    from labdata.schema.general import Dataset, Session, Subject, UploadJob

    if registered_copies([c.path for c in copied], storage):  # a concurrent put took them
        raise FileConflictError("The files were queued by another put while they were copied.",
                                hint="Run labdata upload --queue to see the job.")
    for table, key in ((Subject, "subject"), (Session, "session"), (Dataset, "dataset")):
        if rows[key] is not None:
            table.insert1(rows[key], skip_duplicates=True)
    job_id = _next_job_id()
    UploadJob.insert1(dict(job, job_id=job_id, job_waiting=1, job_status="ON SERVER"))
    UploadJob.AssignedFiles.insert([dict(job_id=job_id, src_path=c.path, src_datetime=c.datetime,
                                         src_size=float(c.size), src_md5=c.md5) for c in copied])
    return job_id


def _next_job_id() -> int:
    from labdata.schema.general import UploadJob

    ids = UploadJob.fetch("job_id", order_by=None)
    return int(max(ids, default=0)) + 1
