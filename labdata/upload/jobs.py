"""Claiming and recording UploadJobs: who runs a job, its status and its log.

States, as in the original: ``ON SERVER`` (put, waiting) -> ``WORKING`` -> ``COMPLETED`` |
``FAILED``; ``WAITING`` (waiting) when deferred by a rule's concurrency limit or reset
after a failure. ``job_waiting = 1`` is what makes a job claimable.

A claim is a transaction, so two servers never take the same job. While it works on
a job, a process holds an exclusive lock file for it on its host. A job left
``WORKING`` on this host whose lock is free belongs to a process that was killed;
the next ``labdata upload`` here takes it up again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labdata.catalog.engine.context import current_context, use
from labdata.core.errors import LabdataError
from labdata.upload.rules import UploadRule

__all__ = ["JobLog", "claim", "held_job_lock", "now", "reset_failed", "set_status"]

LOG_LENGTH = 500
PROGRESS_EVERY = 30.0  # seconds between progress lines in job_log


def now() -> dt.datetime:
    """The local time to the second, as job times are recorded."""
    return dt.datetime.now().replace(microsecond=0)


@contextlib.contextmanager
def held_job_lock(job_id: int) -> Iterator[bool]:
    """Hold this host's lock of a job; yields False (holding nothing) if another process has it."""
    lake = current_context().lake
    lake_id = hashlib.md5(f"{lake.kind}|{lake.dsn}|{lake.root}".encode(), usedforsecurity=False).hexdigest()[:12]
    folder = Path(tempfile.gettempdir()) / "labdata-upload-locks"  # one per host, whoever runs the upload
    if not folder.is_dir():
        folder.mkdir(exist_ok=True)
        with contextlib.suppress(OSError):
            folder.chmod(0o1777)
    path = folder / f"{lake_id}-job-{job_id}.lock"
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(descriptor)


def claim(job_id: int, host: str, rule: UploadRule) -> dict[str, Any] | None:
    """Take a job for this host (call while holding its lock); None if it is not up for grabs.

    A job is taken when it is waiting, or when it is ``WORKING`` on this host (its worker
    was killed: this process holds the job's lock). A rule's ``max_concurrent`` defers it.
    """
    from labdata.schema.general import UploadJob

    def work() -> dict[str, Any] | None:
        rows = (UploadJob & {"job_id": job_id}).fetch(as_dict=True)
        if not rows:
            return None
        job = rows[0]
        resumed = job["job_status"] == "WORKING" and job["job_host"] == host
        if job["job_waiting"] != 1 and not resumed:
            return None
        if rule.max_concurrent and _running(rule.name, host, job_id) >= rule.max_concurrent:
            _update(job_id, job_status="WAITING", job_waiting=1,
                    job_log=f"Waiting for {rule.max_concurrent} running {rule.name} jobs on {host}")
            return None
        note = "resumed after its worker was stopped" if resumed else "started"
        changes = dict(job_status="WORKING", job_waiting=0, job_host=host, job_starttime=now(), job_endtime=None,
                       job_log=f"{note} on {host} (pid {os.getpid()})")
        _update(job_id, **changes)
        return {**job, **changes}

    return current_context().lake.run(work)


def _running(rule: str, host: str, job_id: int) -> int:
    """Jobs of ``rule`` working on ``host``, other than ``job_id``."""
    from labdata.schema.general import UploadJob

    working = UploadJob & {"job_status": "WORKING", "job_rule": rule, "job_host": host}
    return len(working - {"job_id": job_id})


def _update(job_id: int, **changes: Any) -> None:
    from labdata.schema.general import UploadJob

    if "job_log" in changes and changes["job_log"] is not None:
        changes["job_log"] = str(changes["job_log"])[:LOG_LENGTH]
    UploadJob.update1({"job_id": job_id, **changes})


def set_status(job_id: int, **changes: Any) -> None:
    """Change a job's row in its own transaction (``job_log`` is cut to 500 characters)."""
    current_context().lake.run(lambda: _update(job_id, **changes))


def reset_failed(job_ids: list[int] | None = None) -> list[int]:
    """Make FAILED jobs (all, or those of ``job_ids``) claimable again; return their ids."""
    from labdata.schema.general import UploadJob

    def work() -> list[int]:
        failed = UploadJob & {"job_status": "FAILED"}
        if job_ids:
            failed = failed & [{"job_id": j} for j in job_ids]
        rows = failed.fetch("job_id", "job_log", as_dict=True)
        for row in rows:
            _update(row["job_id"], job_status="WAITING", job_waiting=1,
                    job_log=f"reset; was: {row['job_log'] or ''}")
        return [int(row["job_id"]) for row in rows]

    return current_context().lake.run(work)


class JobLog:
    """Writes a job's current stage to ``job_log``: when a stage starts and every 30 s of progress."""

    def __init__(self, job_id: int, host: str) -> None:
        self.job_id, self.host = job_id, host
        self.context = current_context()  # progress comes from transfer threads, which do not inherit it
        self.stage = "starting"
        self._started = time.monotonic()
        self._written = 0.0

    def enter(self, stage: str) -> None:
        """Record that the job starts ``stage`` (e.g. ``"upload 0/12 files"``)."""
        self.stage = stage
        self._write()

    def progress(self, detail: str) -> None:
        """Record progress within the stage, at most every 30 s."""
        if time.monotonic() - self._written >= PROGRESS_EVERY:
            with contextlib.suppress(LabdataError):  # a progress line never fails the transfer
                self._write(detail)

    def _write(self, detail: str = "") -> None:
        self._written = time.monotonic()
        elapsed = int(self._written - self._started)
        text = f"{self.stage}{' - ' + detail if detail else ''} | {elapsed} s on {self.host} (pid {os.getpid()})"
        with use(self.context):
            set_status(self.job_id, job_log=text)
