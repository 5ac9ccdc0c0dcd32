"""The ``slurm`` runner: one sbatch job per task, the job's state read back from squeue (and sacct when kept).

The job script (kept beside the task's log as ``<analysis>_<job id>.sh``) asks for the analysis' CPUs,
GPUs, memory, time and partition (the ``compute.slurm`` preference's values win: ``cpus``, ``partition``,
``memory``, ``time``, ``extra`` sbatch lines, ``container_runtime``,
``container_binds``: more folders mounted in the container), exports the worker's environment and
runs ``labdata task <id>`` — inside the analysis' image when the runtime and the image are present
(Apptainer's ``compute.containers.local/<container>.sif``, or Podman's ``localhost/<container>`` with
``container_runtime: podman``; :mod:`labdata.compute.containers`), bare otherwise, as the original did. The job is
requeueable: a requeued job takes its own task back (see :mod:`labdata.compute.task`).
"""

from __future__ import annotations

import shlex
import shutil
import socket
import subprocess
from typing import ClassVar

from labdata.compute.containers import container_environment, container_image, container_mounts, run_command
from labdata.compute.runners.base import QueuedTask, Runner, task_command
from labdata.compute.worker import worker_environment
from labdata.core.errors import ComputeError, UnknownTargetError

__all__ = ["SlurmRunner", "slurm_available", "slurm_job_alive"]

_KEPT_VARIABLES = ("LABDATA_TASK_LAKE", "LABDATA_PREFERENCES", "LABDATA_DATABASE_PROJECT", "LABDATA_PATH",
                   "LABDATA_N_JOBS", "PATH", "HOME", "PYTHONPATH")


def slurm_available() -> bool:
    """Whether this machine can submit to SLURM (``sbatch`` and ``squeue`` on the PATH)."""
    return shutil.which("sbatch") is not None and shutil.which("squeue") is not None


class SlurmRunner(Runner):
    """Tasks as SLURM jobs on the cluster this machine submits to (``-t slurm``)."""

    name: ClassVar[str] = "slurm"

    def check(self, *, wait: bool) -> None:
        """Refuse when this machine cannot submit to SLURM.

        Raises
        ------
        UnknownTargetError
            sbatch or squeue is not on the PATH.
        """
        if not slurm_available():
            raise UnknownTargetError("SLURM is not reachable from this machine (no sbatch/squeue on the PATH).",
                                     hint="Submit from a cluster's login node, or use -t local / -t dask.")

    def dispatch(self, tasks: list[QueuedTask], *, wait: bool) -> dict[int, str]:
        """Submit one job per task; return ``{job_id: "<host>@slurm<slurm job id>"}``.

        Raises
        ------
        UnknownTargetError
            sbatch is not installed here.
        ComputeError
            sbatch refused a job (its message is kept).
        """
        self.check(wait=wait)
        labels = {}
        for task in tasks:
            labels[task.job_id] = f"{socket.gethostname()}@slurm{self._submit(task)}"[:52]
        return labels

    def _submit(self, task: QueuedTask) -> str:
        script = self.log_file(task).with_suffix(".sh")
        script.write_text(self.job_script(task))
        done = subprocess.run(["sbatch", "--parsable", str(script)], capture_output=True, text=True,
                              env=worker_environment(self.context), check=False)
        if done.returncode != 0:
            raise ComputeError(f"sbatch refused task {task.job_id}: {done.stderr.strip() or done.stdout.strip()}",
                               hint=f"Check the job script {script} and the compute.slurm preference.")
        return done.stdout.strip().split(";")[0]

    def job_script(self, task: QueuedTask) -> str:
        """The sbatch script of ``task``."""
        resources = task.resources
        cpus = int(self.settings.get("cpus") or resources.cpus)
        lines = ["#!/bin/bash", f"#SBATCH --job-name={task.analysis}_{task.job_id}",
                 f"#SBATCH --output={self.log_file(task)}", "#SBATCH --open-mode=append", "#SBATCH --ntasks=1",
                 f"#SBATCH --cpus-per-task={cpus}", "#SBATCH --requeue"]
        lines += [f"#SBATCH --gpus={resources.gpus}"] if resources.gpus else []
        memory = self.settings.get("memory") or resources.memory
        time = self.settings.get("time") or resources.time
        partition = self.settings.get("partition") or resources.partition
        lines += [f"#SBATCH --mem={memory}"] if memory else []
        lines += [f"#SBATCH --time={time}"] if time else []
        lines += [f"#SBATCH --partition={partition}"] if partition else []
        lines += [f"#SBATCH {extra}" for extra in self.settings.get("extra", [])]
        environment = worker_environment(self.context)
        environment.update(container_environment(self.context))  # with LABDATA_PATH, which images need
        lines += [f"export {name}={shlex.quote(environment[name])}" for name in _KEPT_VARIABLES if name in environment]
        # exec: the worker is the job's main process, so scancel's SIGTERM reaches it (a shell would die at once
        # and take the worker with it) and it records CANCELLED before SLURM's KillWait ends
        lines += [f"export LABDATA_N_JOBS={cpus}", "echo \"task started $(date -Is) on $(hostname)\"",
                  "exec " + shlex.join(self._command(task))]
        return "\n".join(lines) + "\n"

    def _command(self, task: QueuedTask) -> list[str]:
        """``labdata task <id>`` in the analysis' image when its runtime and image are here, else bare."""
        runtime = self.settings.get("container_runtime", "apptainer")
        image = container_image(self.context.prefs(), task.container, runtime)
        if image is None or not image.exists():
            return task_command(task.job_id)
        mounts = container_mounts(self.context, self.settings.get("container_binds", []))
        return run_command(image, ["task", str(task.job_id)], mounts=mounts,
                           variables=[name for name in _KEPT_VARIABLES if name not in ("PATH", "HOME")],
                           gpus=bool(task.resources.gpus))

    def is_alive(self, host: str) -> bool | None:
        """Whether the job of a ``<host>@slurm<id>`` label is still pending or running (None if not a job's)."""
        return slurm_job_alive(host)


def slurm_job_alive(host: str) -> bool | None:
    """Whether the job of a ``<host>@slurm<id>`` label is still pending or running (None if not a job's).

    A worker started inside a SLURM job (by this runner, or a Dask worker that is a SLURM job) records this label.
    """
    worker = host.rpartition("@")[2]
    if not worker.startswith("slurm") or not slurm_available():
        return None
    return job_state(worker[5:]) in {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED",
                                     "RESIZING", "SUSPENDED"}


def job_state(slurm_id: str) -> str | None:
    """The state squeue reports for a job, else sacct's, else None (the job has left the queue)."""
    queued = subprocess.run(["squeue", "-h", "-j", slurm_id, "-o", "%T"], capture_output=True, text=True, check=False)
    if queued.returncode == 0 and queued.stdout.strip():
        return queued.stdout.split()[0]
    if shutil.which("sacct"):
        accounted = subprocess.run(["sacct", "-n", "-X", "-j", slurm_id, "-o", "State"], capture_output=True,
                                   text=True, check=False)
        if accounted.returncode == 0 and accounted.stdout.strip():
            return accounted.stdout.split()[0]
    return None
