"""SIGKILL during a sorting import and during a UnitMetrics populate: a sorting's rows and arrays are all
there or none are, and running the same call again completes.

Each case counts the boundary crossings of an undisturbed run (catalog transactions, file copies,
array-group writes; see ``tests/upload/faults.py``), then kills fresh copies of one lake at points
spread over them, checks the lake, and runs the call again.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_sorting_import import KILOSORT, PHY, PHY_GAIN, add_probe, preferences

from labdata.catalog import Context, Lake, use
from labdata.schema import AnalysisFile, Session, SpikeSorting, Subject, UnitMetrics
from templates import copy_sqlite_lake

FAULTS = Path(__file__).parents[1] / "upload" / "faults.py"
FOLDER = KILOSORT / "neuroconv-gin-phy_example_0"
OPEN = """
import json, os
from labdata.catalog import Context, Lake, use
from labdata.core.config import Preferences
context = Context(Lake("sqlite", os.environ["LAKE"]), "test_project", Preferences.load(os.environ["PREFS"]))
key = json.loads(os.environ["KEY"])
"""
IMPORT = OPEN + """
from labdata.core.errors import DuplicateError
from labdata.schema import SpikeSorting
with use(context):
    SpikeSorting().add_kilosort(os.environ["FOLDER"], key, algorithm_name="kilosort2.5", progress=False)
"""
POPULATE = OPEN + """
from labdata.schema import UnitMetrics
with use(context):
    UnitMetrics.populate(key)
"""


def build(root: Path, imported: bool) -> None:
    copy_sqlite_lake(root / "lake", "test_project", people=True)
    prefs = preferences(root)
    prefs.save()
    with use(Context(Lake("sqlite", root / "lake"), "test_project", prefs)) as context:
        Subject.insert1(dict(subject_name="S1", subject_dob="2023-01-01", subject_sex="M", strain_name="C57BL/6J",
                             user_name="couto"))
        Session.insert1(dict(subject_name="S1", session_name=PHY["session_name"],
                             session_datetime="2023-03-06 12:00:00"))
        add_probe(PHY, "phy32", np.load(FOLDER / "channel_positions.npy"), 32000.0, PHY_GAIN)
        if imported:
            SpikeSorting().add_kilosort(FOLDER, PHY, algorithm_name="kilosort2.5", progress=False)
        context.lake.close()


def run(root: Path, code: str, key: dict, kill_at: int) -> subprocess.CompletedProcess:
    env = {"LAKE": str(root / "lake"), "PREFS": str(root / "prefs.json"), "FOLDER": str(FOLDER),
           "KEY": json.dumps(key), "LABDATA_KILL_AT": str(kill_at), "LABDATA_KILL_COUNT": str(root / "count"),
           "PATH": "/usr/bin:/bin", "HOME": str(root), "LABDATA_PATH": str(root / "labdata")}
    return subprocess.run([sys.executable, str(FAULTS), "-c", code], env=env, capture_output=True, text=True,
                          timeout=300)


def kill_points(template: Path, tmp_path: Path, code: str, key: dict) -> list[int]:
    shutil.copytree(template, tmp_path / "counted")
    result = run(tmp_path / "counted", code, key, 0)
    assert result.returncode == 0, result.stderr[-3000:]
    crossings = int((tmp_path / "counted" / "count").read_text())
    return sorted({1, crossings // 3, (2 * crossings) // 3, crossings} - {0})


def state(root: Path) -> tuple[int, int, int]:
    with use(Context(Lake("sqlite", root / "lake"), "test_project", preferences_of(root))) as context:
        found = (len(SpikeSorting()), len(SpikeSorting.Unit()), len(UnitMetrics()))
        if found[1]:
            assert all(len(t) for t in SpikeSorting.Unit().fetch("spike_times")), "every unit's spikes read back"
        assert all(Path(root / "analysis" / p).exists() for p in AnalysisFile.fetch("file_path"))
        context.lake.close()
    return found


def preferences_of(root: Path):  # noqa: ANN201 - Preferences
    from labdata.core.config import Preferences

    return Preferences.load(root / "prefs.json")


@pytest.mark.slow
def test_a_killed_kilosort_import_leaves_the_sorting_whole_or_absent(tmp_path: Path) -> None:
    build(tmp_path / "template", imported=False)
    units = len(np.unique(np.load(FOLDER / "spike_clusters.npy")))
    for point in kill_points(tmp_path / "template", tmp_path, IMPORT, PHY):
        copy = tmp_path / f"kill{point}"
        shutil.copytree(tmp_path / "template", copy)
        assert run(copy, IMPORT, PHY, point).returncode == -9
        sortings, found_units, _ = state(copy)
        assert (sortings, found_units) in {(0, 0), (1, units)}, (point, sortings, found_units)
        if not sortings:
            result = run(copy, IMPORT, PHY, 0)
            assert result.returncode == 0, result.stderr[-3000:]
        assert state(copy)[:2] == (1, units)


@pytest.mark.slow
def test_a_killed_unit_metrics_populate_leaves_the_sorting_whole_or_absent(tmp_path: Path) -> None:
    build(tmp_path / "template", imported=True)
    with use(Context(Lake("sqlite", tmp_path / "template" / "lake"), "test_project",
                     preferences_of(tmp_path / "template"))) as context:
        key = SpikeSorting.fetch1("KEY")
        units = len(SpikeSorting.Unit())
        context.lake.close()
    for point in kill_points(tmp_path / "template", tmp_path, POPULATE, key):
        copy = tmp_path / f"kill{point}"
        shutil.copytree(tmp_path / "template", copy)
        assert run(copy, POPULATE, key, point).returncode == -9
        assert state(copy)[2] in {0, units}, point
        result = run(copy, POPULATE, key, 0)
        assert result.returncode == 0, result.stderr[-3000:]
        assert state(copy)[2] == units
