"""The ``dask`` runner: each task is a Dask task that runs the worker command in a subprocess of a Dask worker.

Settings (the ``compute.dask`` preference, or ``runner_settings``): ``address``, a ``distributed`` scheduler
(``tcp://host:8786``); without one, a ``LocalCluster`` of ``workers`` processes (default 2, ``processes`` is
taken too, one thread each) is started for the dispatch and closed when the tasks have ended. A LocalCluster
lives only as long as the process that started it, so tasks go to the background (``wait=False``) only on a
scheduler given by ``address``: there they are handed over with ``fire_and_forget`` and run after the
submitting process has left.

The Dask task (:func:`run_worker_command`) starts ``labdata task <id>`` as a subprocess, like the other
runners: the worker process claims the task, runs it and records how it ended; a subprocess killed (SIGKILL,
out of memory) is a dead worker, found by :func:`labdata.compute.queue.reap_dead_tasks` through the
``task_host`` label it wrote (``<host>@pid<n>``, or ``<host>@slurm<id>`` for a Dask worker that is a SLURM job).
Its output goes to the task's log file when the Dask worker can write it (a shared file system), and its end
comes back to the submitter, which keeps it in the log file in the foreground.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, ClassVar, NamedTuple

from labdata.compute.runners.base import QueuedTask, Runner, local_worker_alive, task_command
from labdata.compute.runners.slurm import slurm_job_alive
from labdata.compute.worker import worker_environment
from labdata.core.errors import ComputeError

if TYPE_CHECKING:
    from distributed import Client, Future

__all__ = ["DaskRunner", "WorkerOutcome", "run_worker_command"]

OUTPUT_CHARACTERS = 4000


class WorkerOutcome(NamedTuple):
    """How a worker subprocess ended: its ``host@pid`` label, exit status (-9: SIGKILL) and output's end."""

    host: str
    returncode: int
    output: str


def run_worker_command(command: list[str], environment: dict[str, str], log_path: str | None) -> WorkerOutcome:
    """Run ``command`` (a worker) in a subprocess of this Dask worker; its output goes to ``log_path`` if writable.

    ``environment`` (the lake's and preferences' variables, ``PYTHONPATH``) is laid over this process' own.
    """
    with _output_file(log_path) as log:
        start = log.tell()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env={**os.environ, **environment})
        returncode = process.wait()
        log.flush()
        log.seek(max(start, log.tell() - OUTPUT_CHARACTERS))
        output = log.read().decode(errors="replace")
    return WorkerOutcome(f"{socket.gethostname()}@pid{process.pid}"[:52], returncode, output)


def _output_file(log_path: str | None) -> IO[bytes]:
    if log_path is not None:
        try:
            Path(log_path).parent.mkdir(parents=True, exist_ok=True)
            return open(log_path, "a+b")  # closed by the caller's with
        except OSError:
            pass  # not on this machine's file system: keep the output for the submitter only
    return tempfile.TemporaryFile()


class DaskRunner(Runner):
    """Tasks on a ``distributed`` cluster (``-t dask``): the ``address`` setting's scheduler or a LocalCluster."""

    name: ClassVar[str] = "dask"

    def check(self, *, wait: bool) -> None:
        """Refuse the background without a scheduler address (a LocalCluster ends with this process).

        Raises
        ------
        ComputeError
            ``wait`` is False and no ``address`` is set.
        """
        if not wait and not self.settings.get("address"):
            raise ComputeError("Dask tasks go to the background only on a running scheduler: a LocalCluster "
                               "started here would end with this process, and its tasks with it.",
                               hint="Set the compute.dask.address preference (tcp://host:8786, a `dask scheduler` "
                                    "with workers), or run in the foreground (without --background).")

    def dispatch(self, tasks: list[QueuedTask], *, wait: bool) -> dict[int, str]:
        """Submit a Dask task per queued task; return the worker labels (``host@pid<n>`` once ended).

        In the background the label is ``<scheduler address>@<dask key>``.

        Raises
        ------
        ComputeError
            The background without an address, or the scheduler cannot be reached.
        """
        self.check(wait=wait)
        from distributed import fire_and_forget  # distributed is imported only by the processes that use it

        with self._client(len(tasks)) as client:
            futures = {task: self._submit(client, task) for task in tasks}
            if not wait:
                fire_and_forget(list(futures.values()))
                return {task.job_id: f"{self.settings['address']}@{future.key}"[:52]
                        for task, future in futures.items()}
            return {task.job_id: self._outcome(task, future) for task, future in futures.items()}

    @contextlib.contextmanager
    def _client(self, count: int) -> Iterator[Client]:
        """A client of the ``address`` scheduler, or of a LocalCluster closed with it."""
        from distributed import Client, LocalCluster

        address = self.settings.get("address")
        if not address:
            workers = int(self.settings.get("workers") or self.settings.get("processes") or 2)
            with LocalCluster(n_workers=max(1, min(workers, count)), processes=True, threads_per_worker=1,
                              dashboard_address=None) as cluster, Client(cluster) as client:
                yield client
            return
        try:
            client = Client(address, timeout=int(self.settings.get("timeout") or 30))
        except (OSError, TimeoutError) as error:
            raise ComputeError(f"The Dask scheduler {address} did not answer: {error}",
                               hint="Start it (`dask scheduler` and `dask worker ADDRESS`) or fix the "
                                    "compute.dask.address preference.") from error
        with client:
            yield client

    def _submit(self, client: Client, task: QueuedTask) -> Future:
        variables = {name: value for name, value in worker_environment(self.context).items()
                     if name.startswith("LABDATA_") or name == "PYTHONPATH"}
        # a fresh key per dispatch: a rerun of the task must not be answered with a finished attempt's result
        key = f"labdata-task-{task.job_id}-{uuid.uuid4().hex[:8]}"
        return client.submit(run_worker_command, task_command(task.job_id), variables, str(self.log_file(task)),
                             pure=False, key=key)

    def _outcome(self, task: QueuedTask, future: Future) -> str:
        """The ended task's worker label; its output is kept in the log file when the worker wrote it elsewhere."""
        log = self.log_file(task)
        try:
            outcome: WorkerOutcome = future.result()
        except Exception as error:  # noqa: BLE001 - a task Dask could not run stays in the queue; say why
            with log.open("a") as file:
                file.write(f"Dask could not run the worker of task {task.job_id}: {type(error).__name__}: {error}\n")
            return f"dask {future.key}: {type(error).__name__}"[:52]
        if not log.exists():
            log.write_text(outcome.output)
        return outcome.host

    def is_alive(self, host: str) -> bool | None:
        """Whether the worker of a ``task_host`` label still runs: a process of this machine, or a SLURM job.

        None for a process of another machine: ask its Dask worker's machine, or reset the task once it is gone.
        """
        alive = local_worker_alive(host)
        return slurm_job_alive(host) if alive is None else alive

