"""Analysis containers: a task runs inside the labdata-base image (built from Debian packages and wheels by
``labdata build-container``) against a lake mounted from the host, from ``labdata run-container`` and from a
SLURM job; bad names are refused with a hint.

The image tests need Podman and ``localhost/labdata-base:latest``; ``.ci/container-check`` builds it (about
4.5 min on a fresh machine, so the suite does not) and runs this file. Without them they skip with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cheap_tables import Item, Origin

from labdata.catalog import Context, Lake
from labdata.compute import queue_rows, reset_tasks, submit
from labdata.compute.container_build import build_image, definitions_folder
from labdata.compute.containers import ContainerImage, container_image, find_runtime
from labdata.core.config import Preferences
from labdata.core.errors import ContainerError

HERE = Path(__file__).parent
ORIGIN = ["cheap_tables.Origin", "-i", "cheap_tables"]
BUILD_HINT = "build it with .ci/container-check (podman, debootstrap; about 4.5 min)"


@pytest.fixture(scope="module")
def base_image() -> ContainerImage:
    """The labdata-base Podman image; skips with the reason when Podman or the image is missing."""
    if shutil.which("podman") is None:
        pytest.skip(f"podman is not installed; {BUILD_HINT}")
    image = container_image(Preferences.load(), "labdata-base", "podman")
    assert image is not None
    if not image.exists():
        pytest.skip(f"the image {image.reference} is not built; {BUILD_HINT}")
    return image


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Context]:
    """An embedded lake with 5 items; workers (bare or in a container) find the test tables on PYTHONPATH."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    lake = Lake("sqlite", tmp_path / "lake")
    context = Context(lake, "container_test")
    Item(context).insert([dict(item_id=i, value=i) for i in range(5)])
    yield context
    lake.close()


def _origins(context: Context) -> dict[int, tuple[str, int]]:
    rows = Origin(context).fetch(as_dict=True)
    return {row["item_id"]: (row["python_prefix"], row["in_container"]) for row in rows}


@pytest.mark.slow
def test_run_container_runs_a_task_against_the_host_lake(lab: Context, base_image: ContainerImage) -> None:
    [job_id] = submit("populate", target="local", context=lab, args=ORIGIN).job_ids  # bare, on the host
    assert _origins(lab) == dict.fromkeys(range(5), (sys.prefix, 0))
    Item(lab).insert([dict(item_id=i, value=i) for i in range(5, 8)])
    reset_tasks(lab, [job_id])
    command = [sys.executable, "-m", "labdata.cli", "run-container", "labdata-base", "--runtime", "podman",
               "--path", str(lab.lake.root), "-p", lab.project, "--bind", str(HERE), "--", "task", str(job_id)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"task {job_id}: COMPLETED" in done.stdout
    made = _origins(lab)
    assert {i: made[i] for i in range(5, 8)} == dict.fromkeys(range(5, 8), ("/opt/labdata", 1))  # in the image
    assert [row["task_status"] for row in queue_rows(lab)] == ["COMPLETED"]


@pytest.mark.slow
def test_slurm_job_runs_the_task_in_the_podman_image(lab: Context, base_image: ContainerImage, slurm) -> None:
    settings = {"container_runtime": "podman", "container_binds": [str(HERE)]}
    result = submit("populate", target="slurm", context=lab, args=ORIGIN, wait=False, runner_settings=settings)
    [job_id] = result.job_ids
    slurm.wait_until_gone(int(result.submitted[job_id].rpartition("@slurm")[2]), timeout=180)
    [row] = queue_rows(lab)
    assert row["task_status"] == "COMPLETED", row["task_log"]
    assert _origins(lab) == dict.fromkeys(range(5), ("/opt/labdata", 1))
    script = Path(lab.prefs().labdata_path / "logs" / f"populate_{job_id}.sh").read_text()
    assert f"{base_image.reference} task {job_id}" in script


def test_bad_names_are_refused_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(ContainerError, match="Did you mean 'podman'") as raised:
        find_runtime("podmn")
    assert raised.value.hint
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed: the build-side check needs a runtime")
    with pytest.raises(ContainerError, match="labdata-nope") as raised:
        build_image(Preferences.load(), "labdata-nope", "podman")
    assert "labdata-base" in raised.value.hint and "labdata-spikeinterface" in raised.value.hint
    with pytest.raises(ContainerError, match="No container definitions folder"):
        definitions_folder(tmp_path / "missing")
