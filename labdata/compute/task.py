"""Running one queued task (``labdata task <id>``): claim it, run its analysis, record how it ended.

States (ComputeTask.task_status): ``WAITING`` (task_waiting=1) → ``WORKING`` (task_waiting=0, task_host
set) → ``COMPLETED`` | ``FAILED`` (the traceback's end in task_log) | ``CANCELLED`` (SIGTERM — scancel, a
SLURM preemption, a shutdown — or a worker found dead: task_waiting=1 again, the reason in task_log).

Claiming is one catalog transaction that reads the row and sets WORKING only if it is still waiting;
two workers racing for a task conflict in the catalog and the loser, retrying, finds it taken. An analysis
registers each result in its own transaction, so a worker killed at any point leaves its task WORKING with
nothing half-registered; :func:`labdata.compute.queue.reap_dead_tasks` finds such tasks and puts them back.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import socket
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from labdata.catalog.engine.commit_notes import default_note
from labdata.catalog.engine.context import Context
from labdata.catalog.ops.ddl import ensure_schemas
from labdata.compute.analysis import Analysis, analysis_class
from labdata.core.errors import TaskStateError
from labdata.schema import ComputeTask

__all__ = ["CANCELLED", "COMPLETED", "FAILED", "RunningTask", "TaskCancelled", "WAITING", "WORKING",
           "ensure_queue_tables", "run_task", "this_host"]

WAITING, WORKING, COMPLETED, FAILED, CANCELLED = "WAITING", "WORKING", "COMPLETED", "FAILED", "CANCELLED"
LOG_CHARACTERS = 1900


class TaskCancelled(BaseException):
    """Raised in a running task when its worker receives SIGTERM."""


@dataclass
class RunningTask:
    """What an analysis' ``compute`` gets: the task's row, parsed parameters, dataset and files, and a log."""

    job_id: int
    context: Context
    analysis: Analysis
    parameters: dict[str, Any]
    dataset: dict[str, str] | None
    files: list[dict[str, str]] = field(default_factory=list)
    row: dict[str, Any] = field(default_factory=dict)

    def log(self, message: str) -> None:
        """Print a progress line (the runner keeps the worker's output in the task's log file)."""
        print(f"[task {self.job_id}] {message}", flush=True)


def this_host() -> str:
    """``<host>@pid<pid>``, or ``<host>@slurm<job id>`` inside a SLURM job (what task_host records)."""
    slurm = os.environ.get("SLURM_JOB_ID")
    return f"{socket.gethostname()}@{f'slurm{slurm}' if slurm else f'pid{os.getpid()}'}"[:52]


def run_task(context: Context, job_id: int) -> str:
    """Claim task ``job_id``, run its analysis and record the outcome; returns the final status.

    Raises
    ------
    TaskStateError
        The task does not exist, or another worker has it (or it finished).
    """
    row = _claim(context, job_id)
    parameters = json.loads(row["task_parameters"] or "{}")
    dataset = {k: row[k] for k in ("subject_name", "session_name", "dataset_name")} if row["dataset_name"] else None
    files = (ComputeTask.AssignedFiles(context) & {"job_id": job_id}).fetch("file_path", "storage", as_dict=True)
    analysis = analysis_class(row["task_name"], context.prefs().get("compute", {}).get("analysis"))()
    task = RunningTask(job_id, context, analysis, parameters, dataset, files, row)
    received = threading.Event()
    try:
        with _sigterm_cancels(received), _noted_as_task(context, row):
            task.log(f"{row['task_name']} on {dataset or 'the lake'} started on {this_host()}")
            analysis.compute(task)
    except (TaskCancelled, SystemExit, Exception) as error:  # noqa: BLE001 - every end of the analysis is recorded
        if received.is_set() or isinstance(error, TaskCancelled | SystemExit):  # also DuckDB's "Query interrupted"
            _finish(context, job_id, CANCELLED, "cancelled by SIGTERM (scancel, preemption or shutdown); "
                    "back in the queue", waiting=1)
            return CANCELLED
        task.log(f"failed: {type(error).__name__}: {error}")
        _finish(context, job_id, FAILED, traceback.format_exc()[-LOG_CHARACTERS:])
        return FAILED
    _finish(context, job_id, COMPLETED, None)
    task.log("completed")
    return COMPLETED


def _noted_as_task(context: Context, row: dict[str, Any]) -> contextlib.AbstractContextManager[None]:
    """The analysis' commits are noted as this task's (``labdata history``): the user, and ``task N (name): cmd``."""
    author, _ = default_note()
    return context.lake.noting(author, f"task {row['job_id']} ({row['task_name']}): {row['task_cmd'] or ''}")


def ensure_queue_tables(context: Context) -> None:
    """Create the queue's tables if missing; call it before a transaction that reads them.

    Inside a transaction the check that they exist lists every table of the catalog (a second or more
    per worker) instead of reading DuckLake's metadata (milliseconds).
    """
    registry = ComputeTask._registry
    if registry is not None:
        ensure_schemas(context, registry)


def _claim(context: Context, job_id: int) -> dict[str, Any]:
    tasks = ComputeTask(context)
    ensure_queue_tables(context)

    def claim() -> dict[str, Any]:
        rows = (tasks & {"job_id": int(job_id)}).fetch(as_dict=True)
        if not rows:
            raise TaskStateError(f"There is no task {job_id}.", hint="List the queue with `labdata run --queue`.")
        row = rows[0]
        if not row["task_waiting"] and not _requeued_slurm_job(row):
            raise TaskStateError(f"Task {job_id} is {row['task_status']} on {row['task_host']}: already taken.",
                                 hint=f"Run `labdata task-reset {job_id}` first to run it again.")
        update = dict(job_id=int(job_id), task_status=WORKING, task_waiting=0, task_host=this_host(),
                      task_starttime=_now(), task_endtime=None, task_log=None)
        tasks.update1(update)
        return {**row, **update}

    return context.lake.run(claim)


def _requeued_slurm_job(row: dict[str, Any]) -> bool:
    """A SLURM job requeued (preemption, node failure) takes its own WORKING task back."""
    return (row["task_status"] == WORKING and bool(os.environ.get("SLURM_RESTART_COUNT"))
            and row["task_host"] == this_host())


def _finish(context: Context, job_id: int, status: str, log: str | None, *, waiting: int = 0) -> None:
    row = dict(job_id=int(job_id), task_status=status, task_waiting=waiting, task_endtime=_now(), task_log=log)
    context.lake.run(lambda: ComputeTask(context).update1(row))


def _now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


@contextlib.contextmanager
def _sigterm_cancels(received: threading.Event) -> Iterator[None]:
    """Turn SIGTERM into :class:`TaskCancelled` inside the block and set ``received`` (a signal landing inside a
    DuckDB call comes back as its "Query interrupted" error); the previous handler is restored."""
    def cancel(signum: int, frame: Any) -> None:
        received.set()
        raise TaskCancelled

    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield
        return
    previous = signal.signal(signal.SIGTERM, cancel)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
