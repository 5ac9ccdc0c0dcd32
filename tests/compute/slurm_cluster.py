"""The one-node SLURM cluster of the tests (started by ``.ci/start-slurm``), driven through its commands.

Jobs are submitted with ``sbatch``, followed with ``squeue`` until they leave the queue, and read back
with ``scontrol show job`` (kept for ``MinJobAge`` seconds after the end) and ``sacct -c`` (the
``jobcomp/filetxt`` log: there is no accounting database, so a plain ``sacct`` answers nothing).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest

START_HINT = "run .ci/start-slurm (as root) to start a one-node SLURM cluster on 127.0.0.1"
# "comp": the node is finishing a job (an earlier test's); it takes new jobs once that job has left.
USABLE_NODE_STATES = ("idle", "mix", "alloc", "comp")


def _slurm(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """Run a SLURM command and return its result (never raises on a non-zero exit)."""
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, check=False)


def why_no_cluster() -> str | None:
    """Why the tests cannot use a SLURM cluster, or None when ``sinfo`` shows a usable node."""
    if shutil.which("sinfo") is None:
        return f"no SLURM cluster: sinfo is not installed; {START_HINT}"
    try:
        result = _slurm("sinfo", "-h", "-o", "%t", timeout=10)
    except subprocess.TimeoutExpired:
        return f"no SLURM cluster: sinfo did not answer within 10 s; {START_HINT}"
    if result.returncode != 0:
        return f"no SLURM cluster: sinfo failed ({result.stderr.strip()[-200:]}); {START_HINT}"
    states = result.stdout.split()
    if not any(state.rstrip("*~#!%$@^-").startswith(USABLE_NODE_STATES) for state in states):
        return f"no SLURM cluster: no node is idle, mixed, allocated or completing (sinfo says {states}); {START_HINT}"
    return None


def require_slurm() -> None:
    """Skip (or, under ``LABDATA_REQUIRE_SERVICES=1``, fail) when no SLURM cluster is usable."""
    reason = why_no_cluster()
    if reason is None:
        return
    if os.environ.get("LABDATA_REQUIRE_SERVICES") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def wait_until_process_ends(pid: int, timeout: float = 30) -> None:
    """Poll until process ``pid`` is gone; fail after ``timeout`` seconds.

    A cancelled job leaves ``squeue`` as soon as the controller marks it CANCELLED, a moment
    before ``slurmstepd`` has killed its processes.
    """
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists():
        if time.monotonic() > deadline:
            pytest.fail(f"process {pid} of a cancelled SLURM job still runs after {timeout} s")
        time.sleep(0.1)


class SlurmCluster:
    """Submits jobs to the local cluster and reads back how they ended."""

    def submit(self, command: list[str], *, output: Path, name: str = "labdata-test") -> int:
        """Submit ``command`` as a batch job writing its stdout and stderr to ``output``; return the job id."""
        result = _slurm("sbatch", "--parsable", f"--job-name={name}", f"--output={output}",
                        f"--chdir={output.parent}", f"--wrap={shlex.join(command)}")
        assert result.returncode == 0, f"sbatch failed: {result.stderr}"
        return int(result.stdout.strip().split(";")[0])

    def queued(self, job_id: int) -> str | None:
        """The job's state while ``squeue`` lists it (PENDING, RUNNING, COMPLETING...), else None."""
        result = _slurm("squeue", "-h", "-j", str(job_id), "-o", "%T")
        if result.returncode != 0:  # a job the controller has forgotten is no longer queued
            return None
        return result.stdout.strip() or None

    def wait_until_gone(self, job_id: int, timeout: float = 60) -> None:
        """Poll ``squeue`` until the job leaves the queue; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while (state := self.queued(job_id)) is not None:
            if time.monotonic() > deadline:
                pytest.fail(f"SLURM job {job_id} still {state} after {timeout} s")
            time.sleep(0.2)

    def wait_for_file(self, job_id: int, path: Path, timeout: float = 60) -> None:
        """Poll until the running job has written ``path``; fail if the job ends first or after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while not path.exists():
            if self.queued(job_id) is None:
                pytest.fail(f"SLURM job {job_id} ended before writing {path}")
            if time.monotonic() > deadline:
                pytest.fail(f"SLURM job {job_id} did not write {path} within {timeout} s")
            time.sleep(0.2)

    def job(self, job_id: int) -> dict[str, str]:
        """The fields of ``scontrol show job`` (JobState, ExitCode, NodeList...) of a known job."""
        result = _slurm("scontrol", "show", "job", "--oneliner", str(job_id))
        assert result.returncode == 0, f"scontrol show job {job_id} failed: {result.stderr}"
        return dict(field.split("=", 1) for field in result.stdout.split() if "=" in field)

    def completion(self, job_id: int) -> dict[str, str]:
        """The job's line in the completion log, read with ``sacct -c``: State and ExitCode."""
        result = _slurm("sacct", "-c", "-j", str(job_id), "-n", "-P", "-o", "JobID,State,ExitCode")
        for line in result.stdout.splitlines():
            job, state, exit_code = line.split("|")
            if job == str(job_id):
                return {"State": state, "ExitCode": exit_code}
        raise AssertionError(f"job {job_id} is not in the completion log: {result.stdout}{result.stderr}")

    def cancel(self, job_id: int) -> None:
        """Cancel a job with ``scancel``."""
        result = _slurm("scancel", str(job_id))
        assert result.returncode == 0, f"scancel {job_id} failed: {result.stderr}"
