"""``labdata upload`` on the upload server: turn queued jobs into stored, registered files.

Per job (see :mod:`labdata.upload.jobs` for claiming and states):

1. read its AssignedFiles under ``local_paths[0]`` (missing or resized files fail the job);
2. apply its rule (:mod:`labdata.upload.rules`);
3. check File: a path stored with the same MD5 is skipped, one with other content
   fails the job (a registered object is never replaced);
4. upload the files in parallel; each file's MD5 is computed as it is read and must
   equal the one recorded at ``put``, or nothing is stored for it;
5. in one transaction: File, Session and Dataset if missing, Dataset.DataFiles,
   ProcessedFile, the rule's own rows, and the job ``COMPLETED``.

A failed job keeps its files on the server, says why in ``job_log``, and deletes the
objects it stored that no File row names. A job whose process was killed stays
``WORKING`` and is taken up again by the next ``labdata upload`` on the same host;
every step can run again.
"""

from __future__ import annotations

import contextlib
import functools
import os
import traceback
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from labdata.catalog.engine.context import current_context, use
from labdata.core.errors import FileConflictError, LabdataError, LabdataWarning, StorageError, UploadError
from labdata.schema.general import DEFAULT_RAW_STORAGE
from labdata.stores import open_store
from labdata.stores.parallel import transfer_all
from labdata.upload.jobs import JobLog, claim, held_job_lock, now, set_status
from labdata.upload.paths import session_datetime
from labdata.upload.registered import registered_copies
from labdata.upload.rules import RuleOutput, SourceFile, UploadRule, rule_for

__all__ = ["JobOutcome", "process_upload_jobs"]

@dataclass(frozen=True)
class JobOutcome:
    """How a job ended in this call: ``COMPLETED``, ``FAILED``, or ``SKIPPED`` (taken or deferred)."""

    job_id: int
    status: str
    log: str = ""


def process_upload_jobs(job_ids: Sequence[int] | None = None, *, all_hosts: bool = False, n_jobs: int = 1,
                        progress: bool = True) -> list[JobOutcome]:
    """Run the claimable jobs for this host (or every host, or the given ids), ``n_jobs`` at a time.

    Returns
    -------
    list of JobOutcome
        One per job looked at, in id order.
    """
    from labdata.schema.file_objects import finish_object_deletions

    context = current_context()
    host = context.prefs()["hostname"]
    try:
        finish_object_deletions()
    except StorageError as error:  # recorded deletions wait; uploads go on
        warnings.warn(f"{error}", LabdataWarning, stacklevel=2)
    candidates = _candidates(job_ids, all_hosts, host)

    def run(job_id: int) -> JobOutcome:
        with use(context):
            return _run_job(job_id, host, progress)

    if n_jobs <= 1:  # in this thread, so that a SIGTERM or Ctrl-C stops the job and marks it FAILED
        return [run(job_id) for job_id in candidates]
    with ThreadPoolExecutor(n_jobs) as pool:
        return list(pool.map(run, candidates))


def _candidates(job_ids: Sequence[int] | None, all_hosts: bool, host: str) -> list[int]:
    from labdata.schema.general import UploadJob

    rows = UploadJob.fetch("job_id", "job_waiting", "job_status", "job_host", as_dict=True)
    if job_ids:
        wanted = set(job_ids)
        return sorted(int(r["job_id"]) for r in rows if r["job_id"] in wanted)
    mine = [r for r in rows if all_hosts or r["job_host"] in (host, None)]
    return sorted(int(r["job_id"]) for r in mine
                  if r["job_waiting"] == 1 or (r["job_status"] == "WORKING" and r["job_host"] == host))


def _run_job(job_id: int, host: str, progress: bool) -> JobOutcome:
    prefs = current_context().prefs()
    with held_job_lock(job_id) as held:
        if not held:
            return JobOutcome(job_id, "SKIPPED", "another process on this host is running it")
        try:
            rule, unknown = rule_for(_rule_name(job_id), prefs.get("upload_rules")), None
        except LabdataError as error:
            rule, unknown = UploadRule(), error
        job = claim(job_id, host, rule)
        if job is None:
            return JobOutcome(job_id, "SKIPPED", "taken by another server, finished, or deferred")
        if unknown is not None:
            _fail(job_id, host, "loading its rule", unknown)
            return JobOutcome(job_id, "FAILED", str(unknown))
        project = job["project_name"] or current_context().project
        with use(replace(current_context(), project=project)):
            return _process(job, rule, host, progress)


def _rule_name(job_id: int) -> str:
    from labdata.schema.general import UploadJob

    return (UploadJob & {"job_id": job_id}).fetch1("job_rule") or "none"


def _process(job: dict[str, Any], rule: UploadRule, host: str, progress: bool) -> JobOutcome:
    job_id = int(job["job_id"])
    log = JobLog(job_id, host)
    storage = storage_of(job)
    output = RuleOutput()
    try:
        log.enter("checking files")
        sources = _sources(job_id)
        log.enter(f"applying rule {rule.name}")
        output = rule.apply(job, sources, log.enter)
        to_send = _not_yet_stored(output.upload, storage)
        log.enter(f"uploading {len(to_send)} of {len(output.upload)} files to {storage}")
        _upload(to_send, storage, log, progress)
        log.enter("registering")
        count = current_context().lake.run(lambda: _register(job, rule, output, to_send, storage))
    except BaseException as error:
        _remove_unregistered(output.upload, storage)
        _fail(job_id, host, log.stage, error)
        if not isinstance(error, Exception):
            raise
        return JobOutcome(job_id, "FAILED", str(error))
    return JobOutcome(job_id, "COMPLETED", f"UPLOADED {count}")


def storage_of(job: dict[str, Any]) -> str:
    """The storage a job's files go to: the job's, else this server's ``upload_storage``, else ``data``."""
    return job["upload_storage"] or current_context().prefs().get("upload_storage") or DEFAULT_RAW_STORAGE


def _sources(job_id: int) -> list[SourceFile]:
    from labdata.schema.general import UploadJob

    rows = (UploadJob.AssignedFiles & {"job_id": job_id}).fetch(as_dict=True)
    if not rows:
        raise UploadError(f"Could not find files: job {job_id} has no AssignedFiles.",
                          hint="Put the files again with labdata put.")
    root = Path(current_context().prefs().local_paths[0])
    sources = [SourceFile(r["src_path"], root / r["src_path"], int(r["src_size"]), r["src_md5"], r["src_datetime"])
               for r in rows]
    for source in sources:
        if not source.local.is_file():
            raise UploadError(f"FILE NOT FOUND; check file transfer: {str(source.local)!r} is missing.",
                              hint="Check that put finished and that local_paths[0] is the upload folder.")
        found = source.local.stat().st_size
        if found != source.size:
            raise UploadError(f"{source.path!r} has {found} bytes, not the {source.size} put "
                              "recorded; check file transfer.", hint="Put the file again from the rig.")
    return sources


def _not_yet_stored(files: list[SourceFile], storage: str) -> list[SourceFile]:
    """The files File does not hold yet; raises if File holds one of them with other content."""
    known = registered_copies([f.path for f in files], storage)
    stored = {path: {c.md5 for c in copies if c.where == "File"} for path, copies in known.items()}
    for file in files:
        md5s = stored.get(file.path, set())
        if md5s and file.md5 not in md5s:
            raise FileConflictError(f"{file.path!r} is already in File with other content (MD5 {sorted(md5s)[0]}).",
                                    hint="Registered files are never overwritten: rename the new file and put it "
                                         "again, or delete the old File row first.")
    return [f for f in files if not stored.get(f.path)]


def _upload(files: list[SourceFile], storage: str, log: JobLog, progress: bool) -> None:
    store = open_store(current_context().prefs(), storage)
    total, done = sum(f.size for f in files), [0]

    def logged(count: int) -> None:
        done[0] += count
        log.progress(f"{done[0] / max(total, 1):.0%} of {total} bytes")

    transfer_all([functools.partial(_put_one, store, f) for f in files], total=total, desc=f"upload to {storage}",
                 progress=progress, on_bytes=logged)


def _put_one(store: Any, file: SourceFile, tick: Any) -> Any:
    return store.put(file.local, file.path, md5=file.md5, progress=tick)


def _register(job: dict[str, Any], rule: UploadRule, output: RuleOutput, sent: list[SourceFile],
              storage: str) -> int:
    from labdata.schema.general import Dataset, File, ProcessedFile

    new = _not_yet_stored(output.upload, storage)
    if {f.path for f in new} != {f.path for f in sent}:  # File changed under the job since it checked
        raise UploadError("File rows of this job's paths were added or deleted while it uploaded.",
                          hint="Run labdata upload --reset-failed to run the job again.")
    File.insert([dict(file_path=f.path, storage=storage, file_datetime=f.datetime, file_size=float(f.size),
                      file_md5=f.md5) for f in new])
    dataset = _dataset_of(job)
    if dataset is not None:
        Dataset.DataFiles.insert([dict(dataset, file_path=f.path, storage=storage) for f in output.upload],
                                 skip_duplicates=True)
    ProcessedFile.insert([dict(file_path=f.path, file_datetime=f.datetime, file_size=float(f.size), file_md5=f.md5)
                          for f in output.processed], skip_duplicates=True)
    rule.register(job, dataset, output.upload)
    set_status(int(job["job_id"]), job_status="COMPLETED", job_waiting=0, job_endtime=now(),
               job_log=f"UPLOADED {len(new)}")
    return len(new)


def _dataset_of(job: dict[str, Any]) -> dict[str, str] | None:
    """The job's dataset key, creating its Session and Dataset if missing (None if the job names none)."""
    from labdata.schema.general import Dataset, Session

    names = ("subject_name", "session_name", "dataset_name")
    if not all(job.get(n) for n in names):
        return None
    dataset = {n: job[n] for n in names}
    session = {n: job[n] for n in names[:2]}
    if not Session & session:
        when = session_datetime(dataset, current_context().prefs()["path_rules_session_date"])
        Session.insert1({**session, "session_datetime": when})
    Dataset.insert1(dataset, skip_duplicates=True)
    return dataset


def _remove_unregistered(files: list[SourceFile], storage: str) -> None:
    """Delete the objects of ``files`` that no File row names (what a failed job stored)."""
    with contextlib.suppress(Exception):
        known = registered_copies([f.path for f in files], storage)
        store = open_store(current_context().prefs(), storage)
        for file in files:
            if not any(c.where == "File" for c in known.get(file.path, [])):
                store.delete(file.path)


def _fail(job_id: int, host: str, stage: str, error: BaseException) -> None:
    if isinstance(error, LabdataError | OSError):
        reason = str(error)
    elif isinstance(error, Exception):
        reason = "ERROR " + "".join(traceback.format_exception_only(error)).strip()
    else:
        reason = f"INTERRUPTED on {host} (the process was stopped) during: {stage}"
    def work() -> None:
        from labdata.schema.general import UploadJob

        if (UploadJob & {"job_id": job_id}).fetch1("job_status") == "WORKING":  # not if it completed meanwhile
            set_status(job_id, job_status="FAILED", job_waiting=0, job_host=host, job_endtime=now(),
                       job_log=f"{reason} [pid {os.getpid()}]")

    with contextlib.suppress(Exception):
        current_context().lake.run(work)
