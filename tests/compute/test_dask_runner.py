"""The ``dask`` runner on a real ``distributed`` cluster of worker processes: four tasks populate every key once,
a worker subprocess SIGKILLed mid-populate leaves its task CANCELLED with the reason and nothing half-made (the
rerun, on a LocalCluster of its own, completes), and the background is refused without a scheduler address."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cheap_tables import SLEEP_VARIABLE
from click.testing import CliRunner
from distributed import LocalCluster
from queue_checks import POPULATE, kill_worker_and_reap, made_once, open_lab, statuses

from labdata.catalog import Context
from labdata.cli.main import main
from labdata.compute import dispatch, queue_rows, reset_tasks, submit
from labdata.core.errors import ComputeError
from labdata.schema import ComputeTask


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A LocalCluster of four worker processes (one thread each); its scheduler's address."""
    with LocalCluster(n_workers=4, processes=True, threads_per_worker=1, dashboard_address=None) as local:
        yield local.scheduler_address


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cluster: str) -> Iterator[Context]:
    """An embedded lake with 40 items whose preferences send ``-t dask`` to the cluster."""
    context = open_lab(tmp_path, monkeypatch)
    context.prefs().set("compute.dask", {"address": cluster})
    context.prefs().save()
    yield context
    context.lake.close()


@pytest.mark.slow
def test_dask_workers_populate_every_key_once(lab: Context) -> None:
    result = submit("populate", target="dask", context=lab, args=POPULATE, workers=4)
    assert len(result.job_ids) == 4 and statuses(lab) == ["COMPLETED"] * 4, queue_rows(lab, reap=False)
    hosts = {row["task_host"] for row in queue_rows(lab, reap=False)}
    assert set(result.submitted.values()) == hosts  # the labels are the workers' own task_host
    made_once(lab, 40)


@pytest.mark.slow
def test_a_killed_worker_is_put_back_and_a_rerun_completes(lab: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SLEEP_VARIABLE, "0.1")
    result = submit("populate", target="dask", context=lab, args=POPULATE, wait=False)
    [job_id] = result.job_ids
    assert "@labdata-task-" in result.submitted[job_id]
    kill_worker_and_reap(lab, job_id)
    monkeypatch.setenv(SLEEP_VARIABLE, "0")
    reset_tasks(lab, [job_id])
    # the rerun without an address: on a LocalCluster started for the dispatch and closed after it
    labels = dispatch(lab, [job_id], target="dask", wait=True, runner_settings={"address": "", "workers": 1})
    assert statuses(lab) == ["COMPLETED"] and labels[job_id] == queue_rows(lab)[0]["task_host"]
    made_once(lab, 40)  # including the key the dead worker had reserved, taken over


def test_the_background_without_an_address_is_refused(lab: Context) -> None:
    with pytest.raises(ComputeError, match="LocalCluster") as raised:
        submit("populate", target="dask", context=lab, args=POPULATE, wait=False, runner_settings={"address": ""})
    assert "compute.dask.address" in raised.value.hint
    lab.prefs().set("compute.dask", {})
    lab.prefs().save()
    args = ["run", "-t", "dask", "--background", "--path", str(lab.lake.root), "--project", lab.project,
            "populate", "--", *POPULATE]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "compute.dask.address" in result.output, result.output
    assert len(ComputeTask(lab)) == 0  # refused before anything was queued
