"""Real jobs on the local SLURM cluster: a job's file and exit state, four jobs at once, a cancelled job."""

from __future__ import annotations

import sys
from pathlib import Path

from slurm_cluster import SlurmCluster, wait_until_process_ends

BARRIER = """
import pathlib, sys, time
folder, me, count = pathlib.Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
(folder / me).write_text("started")
deadline = time.monotonic() + 60
while len(list(folder.iterdir())) < count:
    if time.monotonic() > deadline:
        sys.exit(f"only {len(list(folder.iterdir()))} of {count} jobs ran at once")
    time.sleep(0.1)
"""

SLEEPER = """
import os, pathlib, sys, time
folder = pathlib.Path(sys.argv[1])
(folder / "pid").write_text(str(os.getpid()))
time.sleep(300)
(folder / "finished").write_text("not cancelled")
"""


def python(code: str, *args: str) -> list[str]:
    """A command running ``code`` with this test's Python interpreter."""
    return [sys.executable, "-c", code, *args]


def test_a_job_writes_its_file_and_ends_completed(slurm: SlurmCluster, tmp_path: Path) -> None:
    target = tmp_path / "written.txt"
    job = slurm.submit(python("import pathlib, sys; pathlib.Path(sys.argv[1]).write_text('from slurm')",
                              str(target)), output=tmp_path / "job.out")
    slurm.wait_until_gone(job)
    assert target.read_text() == "from slurm"
    record = slurm.job(job)
    assert (record["JobState"], record["ExitCode"], record["JobName"]) == ("COMPLETED", "0:0", "labdata-test")
    assert slurm.completion(job) == {"State": "COMPLETED", "ExitCode": "0:0"}


def test_a_failing_job_reports_its_exit_code(slurm: SlurmCluster, tmp_path: Path) -> None:
    job = slurm.submit(python("import sys; print('failing'); sys.exit(3)"), output=tmp_path / "job.out")
    slurm.wait_until_gone(job)
    assert (tmp_path / "job.out").read_text() == "failing\n"
    assert (slurm.job(job)["JobState"], slurm.job(job)["ExitCode"]) == ("FAILED", "3:0")
    assert slurm.completion(job) == {"State": "FAILED", "ExitCode": "3:0"}


def test_four_one_cpu_jobs_run_at_once(slurm: SlurmCluster, tmp_path: Path) -> None:
    """Each job waits until all four have started: they only end if the cluster runs them together."""
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    jobs = [slurm.submit(python(BARRIER, str(barrier), f"job{index}", "4"), output=tmp_path / f"job{index}.out")
            for index in range(4)]
    for job in jobs:
        slurm.wait_until_gone(job)
    outputs = [(tmp_path / f"job{index}.out").read_text() for index in range(4)]
    assert [slurm.job(job)["JobState"] for job in jobs] == ["COMPLETED"] * 4, outputs
    assert sorted(path.name for path in barrier.iterdir()) == ["job0", "job1", "job2", "job3"]


def test_scancel_ends_a_sleeping_job(slurm: SlurmCluster, tmp_path: Path) -> None:
    job = slurm.submit(python(SLEEPER, str(tmp_path)), output=tmp_path / "job.out")
    slurm.wait_for_file(job, tmp_path / "pid")
    slurm.cancel(job)
    slurm.wait_until_gone(job)
    assert slurm.job(job)["JobState"] == "CANCELLED"
    assert f"JOB {job} ON" in (tmp_path / "job.out").read_text()
    assert "CANCELLED" in (tmp_path / "job.out").read_text()
    assert not (tmp_path / "finished").exists()
    wait_until_process_ends(int((tmp_path / "pid").read_text()))
    assert not (tmp_path / "finished").exists()
