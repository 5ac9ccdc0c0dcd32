"""The ``local`` runner: a pool of worker processes on this machine, in the foreground or in the background.

In the foreground, at most ``processes`` tasks run at once (``processes``, default one per task up to the CPUs)
and ``dispatch`` returns when all have ended; each worker's output goes to its log file and, in the
foreground, a line per finished task is printed. In the background each task's worker is started detached
(a new session, its output in the log file) and ``dispatch`` returns at once.
"""

from __future__ import annotations

import os
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar

from labdata.compute.runners.base import QueuedTask, Runner, local_worker_alive, task_command
from labdata.compute.worker import worker_environment

__all__ = ["LocalRunner"]


class LocalRunner(Runner):
    """Worker processes on this machine (``-t local``); ``settings["processes"]`` caps how many run at once."""

    name: ClassVar[str] = "local"

    def dispatch(self, tasks: list[QueuedTask], *, wait: bool) -> dict[int, str]:
        """Start a worker per task (see the module docstring); return ``{job_id: "<host>@pid<pid>"}``."""
        if not wait:
            return {task.job_id: self._label(self._start(task)) for task in tasks}
        processes = max(1, int(self.settings.get("processes") or min(len(tasks), os.cpu_count() or 1)))
        with ThreadPoolExecutor(max_workers=processes) as pool:
            return dict(pool.map(self._run_to_end, tasks))

    def _start(self, task: QueuedTask) -> subprocess.Popen[bytes]:
        with self.log_file(task).open("ab") as log:
            return subprocess.Popen(task_command(task.job_id), stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=worker_environment(self.context),
                                    start_new_session=True)

    def _run_to_end(self, task: QueuedTask) -> tuple[int, str]:
        process = self._start(task)
        process.wait()
        return task.job_id, self._label(process)

    @staticmethod
    def _label(process: subprocess.Popen[bytes]) -> str:
        return f"{socket.gethostname()}@pid{process.pid}"[:52]

    def is_alive(self, host: str) -> bool | None:
        """For a worker of this machine, whether its process exists; None for another machine's."""
        return local_worker_alive(host)
