"""The compute queue with real workers: local worker processes and SLURM jobs populate every key once, a killed
or cancelled worker's task goes back to the queue with nothing half-registered, and bad input queues nothing."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cheap_tables import SLEEP_VARIABLE, Square
from queue_checks import POPULATE, kill_worker_and_reap, made_once, open_lab, statuses, wait_for

from labdata.catalog import Context
from labdata.compute import dispatch, queue_rows, reset_tasks, submit
from labdata.core.errors import (
    AlreadySubmittedError,
    AnalysisOptionError,
    QueryError,
    UnknownAnalysisError,
    UnknownTargetError,
)
from labdata.schema import ComputeTask


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Context]:
    """An embedded lake with 40 items; workers find the test tables on PYTHONPATH."""
    context = open_lab(tmp_path, monkeypatch)
    yield context
    context.lake.close()


def test_bad_input_is_refused_and_queues_nothing(lab: Context) -> None:
    cases = [(UnknownAnalysisError, "populte", {}, "Did you mean 'populate'"),
             (AnalysisOptionError, "populate", {"args": [*POPULATE, "-p", "many"]}, "many"),
             (AnalysisOptionError, "populate", {"args": ["-r", "x"]}, "TABLE"),
             (AnalysisOptionError, "populate", {"args": POPULATE, "procesess": 2}, "Did you mean 'processes'"),
             (UnknownTargetError, "populate", {"args": POPULATE, "target": "slurmm"}, "Did you mean 'slurm'"),
             (QueryError, "populate", {"args": POPULATE, "subject": "JC17"}, "no subject 'JC17'")]
    for error, analysis, kwargs, text in cases:
        with pytest.raises(error, match=text) as raised:
            submit(analysis, context=lab, **{"target": "local", **kwargs})
        assert raised.value.hint
    assert len(ComputeTask(lab)) == 0


def test_local_workers_populate_every_key_once(lab: Context) -> None:
    some = [*POPULATE, "-r", "item_id < 12"]  # the 40 keys are SLURM's and Dask's; here 4 workers share 12
    result = submit("populate", target="local", context=lab, args=some, workers=4,
                    runner_settings={"processes": 4})
    assert len(result.job_ids) == 4 and statuses(lab) == ["COMPLETED"] * 4
    made_once(lab, 12)
    with pytest.raises(AlreadySubmittedError, match="submitted already"):
        submit("populate", target="local", context=lab, args=some, workers=4)


def test_a_killed_worker_is_put_back_and_a_rerun_completes(lab: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SLEEP_VARIABLE, "0.3")
    [job_id] = submit("populate", target="local", context=lab, args=[*POPULATE, "-r", "item_id < 16"],
                      wait=False).job_ids
    kill_worker_and_reap(lab, job_id)
    monkeypatch.setenv(SLEEP_VARIABLE, "0")
    reset_tasks(lab, [job_id])
    dispatch(lab, [job_id], target="local", wait=True)
    assert statuses(lab) == ["COMPLETED"]
    made_once(lab, 16)  # including the key the dead worker had reserved, taken over


def test_slurm_workers_populate_every_key_once(lab: Context, slurm) -> None:
    result = submit("populate", target="slurm", context=lab, args=POPULATE, workers=4, wait=False)
    assert all("@slurm" in label for label in result.submitted.values())
    wait_for(lambda: set(statuses(lab)) <= {"COMPLETED", "FAILED"} and len(statuses(lab)) == 4, "four jobs", 120)
    assert statuses(lab) == ["COMPLETED"] * 4, [r["task_log"] for r in queue_rows(lab, reap=False)]
    made_once(lab, 40)


def test_scancel_puts_the_task_back_and_a_rerun_completes(lab: Context, slurm, monkeypatch) -> None:
    monkeypatch.setenv(SLEEP_VARIABLE, "0.5")
    result = submit("populate", target="slurm", context=lab, args=POPULATE, wait=False)
    [job_id] = result.job_ids
    wait_for(lambda: len(Square(lab)) >= 2, "two keys made", 60)
    slurm_id = result.submitted[job_id].rpartition("@slurm")[2]
    subprocess.run(["scancel", slurm_id], check=True)
    wait_for(lambda: statuses(lab) != ["WORKING"], "the task to end", 60)
    assert statuses(lab) == ["CANCELLED"], queue_rows(lab, reap=False)
    [row] = queue_rows(lab)
    assert row["task_waiting"] == 1 and "SIGTERM" in row["task_log"]
    made_once(lab, len(Square(lab)))
    monkeypatch.setenv(SLEEP_VARIABLE, "0")
    reset_tasks(lab, [job_id])
    dispatch(lab, [job_id], target="slurm", wait=False)
    wait_for(lambda: statuses(lab) == ["COMPLETED"], "the rerun", 60)
    made_once(lab, 40)


def test_the_command_line_queues_runs_and_lists_tasks(lab: Context) -> None:
    from click.testing import CliRunner

    from labdata.cli.main import main

    where = ["--path", str(lab.lake.root), "-p", lab.project]
    lab.lake.close()
    run = CliRunner().invoke(main, ["run", "populate", "-t", "local", *where, "--", *POPULATE, "--max-calls", "5"])
    assert run.exit_code == 0, run.output
    assert "task 1: populate on local" in run.output  # exit 0: every task COMPLETED
    again = CliRunner().invoke(main, ["run", "populate", "-t", "local", *where, "--", *POPULATE, "--max-calls", "5"])
    assert again.exit_code == 1 and "submitted already" in again.output and "--force" in again.output
    options = CliRunner().invoke(main, ["run", "populate", "--help"])
    assert options.exit_code == 0 and "--restrictions" in options.output and "TABLE" in options.output
    wrong = CliRunner().invoke(main, ["run", "populate", *where, "--", *POPULATE, "-p", "many"])
    assert wrong.exit_code == 1 and "'many' is not a valid integer" in wrong.output
    queue = CliRunner().invoke(main, ["run", "--queue", *where])
    assert queue.exit_code == 0 and "compute tasks" in queue.output
    reset = CliRunner().invoke(main, ["task-reset", "1", *where])
    assert reset.exit_code == 0 and "1 task(s) waiting again" in reset.output
    task = CliRunner().invoke(main, ["task", "1", *where])
    assert task.exit_code == 0 and "task 1: COMPLETED" in task.output
    taken = CliRunner().invoke(main, ["task", "1", *where])
    assert taken.exit_code == 1 and "already taken" in taken.output
