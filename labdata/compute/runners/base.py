"""What every runner does: start ``labdata task <id>`` for queued tasks somewhere, and tell whether one still runs.

A runner never runs an analysis in its own process: each task runs in a fresh worker process (a pool
process here, a SLURM job, a process started by a Dask worker), so a worker that dies takes only its task
with it, and the task's claim, log and outcome are recorded by the worker itself (:mod:`labdata.compute.task`).
Runners for remote clusters (SLURM over ssh, EC2) implement the same two methods.
"""

from __future__ import annotations

import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from labdata.compute.work import Resources
from labdata.core.processes import process_alive

if TYPE_CHECKING:
    from labdata.catalog.engine.context import Context

__all__ = ["QueuedTask", "Runner", "local_worker_alive", "task_command"]


@dataclass(frozen=True)
class QueuedTask:
    """A task handed to a runner: its id, analysis, resources and container image name."""

    job_id: int
    analysis: str
    resources: Resources
    container: str


def task_command(job_id: int) -> list[str]:
    """The worker's command line: this Python running ``labdata task <id>``."""
    return [sys.executable, "-m", "labdata.cli", "task", str(job_id)]


def local_worker_alive(host: str) -> bool | None:
    """Whether the worker of a ``<host>@pid<n>`` label of this machine still runs; None for any other label.

    What ``task_host`` records for a worker that is not a SLURM job (:func:`labdata.compute.task.this_host`),
    whichever runner started it; a zombie (ended, not yet waited for) counts as ended.
    """
    name, _, worker = host.rpartition("@")
    if not name or name != socket.gethostname()[: len(name)] or not worker.startswith("pid") \
            or not worker[3:].isdigit():
        return None
    return process_alive(int(worker[3:]))


class Runner:
    """Base class of runners; ``settings`` is the target's section of the ``compute`` preference."""

    name: ClassVar[str] = ""

    def __init__(self, context: Context, settings: dict[str, Any] | None = None) -> None:
        self.context = context
        self.settings = dict(settings or {})

    def dispatch(self, tasks: list[QueuedTask], *, wait: bool) -> dict[int, str]:
        """Start ``tasks``; return each one's worker label (``host@pid<n>``, ``host@slurm<id>``, ...).

        ``wait``: return only when every task has ended (the foreground), else as soon as they are started.
        """
        raise NotImplementedError

    def check(self, *, wait: bool) -> None:
        """Raise a :class:`~labdata.core.errors.ComputeError` if this runner cannot take tasks (before queueing)."""

    def is_alive(self, host: str) -> bool | None:
        """Whether the worker labelled ``host`` still runs; None when this runner cannot tell."""
        return None

    def log_file(self, task: QueuedTask) -> Path:
        """Where a task's output goes: ``<labdata folder>/logs/<analysis>_<job id>.log``."""
        folder = self.context.prefs().labdata_path / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{task.analysis}_{task.job_id}.log"
