"""``labdata sorting-import``: a Kilosort/phy folder becomes a SpikeSorting; refusals print the error and its hint."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner

from labdata.catalog import Context, Lake, use
from labdata.cli.main import main
from labdata.core.config import Preferences
from labdata.schema import (
    AnalysisFile,
    Dataset,
    EphysRecording,
    Probe,
    ProbeConfiguration,
    Session,
    SpikeSorting,
    Subject,
)
from shared_data import SHARED_DATA
from templates import copy_sqlite_lake

FOLDER = SHARED_DATA / "kilosort" / "neuroconv-gin-phy_example_0"
SESSION = dict(subject_name="S1", session_name="20230306_120000")
PHY = dict(SESSION, dataset_name="phy", probe_num=0)
ARGS = ["-a", PHY["subject_name"], "-s", PHY["session_name"], "-d", PHY["dataset_name"], "--probe", "0",
        "--no-progress"]


@pytest.fixture
def lab(tmp_path):
    """A preference file naming a lake with the 32-channel probe of the phy example, and a local analysis storage."""
    prefs = Preferences.load(tmp_path / "prefs.json")
    prefs.set("lake_path", str(tmp_path / "lake"))
    prefs.set("local_paths", [str(tmp_path / "local")])
    (tmp_path / "analysis").mkdir()
    prefs.set("storage.analysis", {"protocol": "local", "folder": str(tmp_path / "analysis")})
    prefs.save()
    copy_sqlite_lake(tmp_path / "lake", "lab_data", people=True)
    lake = Lake("sqlite", tmp_path / "lake")
    with use(Context(lake, "lab_data", prefs)):
        Subject.insert1(dict(subject_name="S1", subject_dob="2023-01-01", subject_sex="M", strain_name="C57BL/6J",
                             user_name="couto"))
        Session.insert1(dict(SESSION, session_datetime="2023-03-06 12:00:00"))
        Dataset.insert1(dict(SESSION, dataset_name="phy", dataset_type="ephys"))
        Probe.insert1(dict(probe_id="phy32", probe_type="0", probe_n_shanks=1, probe_recording_channels=32))
        ProbeConfiguration.insert1(dict(probe_id="phy32", configuration_id=1, probe_n_channels=32, probe_gain=0.195,
                                        channel_idx=np.arange(32), channel_shank=np.zeros(32, dtype=int),
                                        channel_coords=np.load(FOLDER / "channel_positions.npy")))
        EphysRecording.insert1(dict(SESSION, dataset_name="phy", n_probes=1, recording_duration=60.0,
                                    recording_software="spikeglx"), allow_direct_insert=True)
        EphysRecording.ProbeSetting.insert1(dict(PHY, probe_id="phy32", configuration_id=1, sampling_rate=32000.0),
                                            allow_direct_insert=True)
    lake.close()
    return tmp_path, prefs


def labdata(tmp_path, *args: str) -> subprocess.CompletedProcess:
    """``labdata ARGS`` in this process, with the preference file of ``tmp_path``."""
    from labdata.catalog.engine.context import default_contexts

    try:
        result = CliRunner().invoke(main, list(args), env={"LABDATA_PREFERENCES": str(tmp_path / "prefs.json")})
    finally:
        default_contexts.reset()
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(["labdata", *args], result.exit_code, result.stdout, result.stderr)


def test_sorting_import_registers_the_folder_and_prints_a_summary(lab) -> None:
    root, prefs = lab
    result = labdata(root, "sorting-import", str(FOLDER), *ARGS, "--algorithm", "kilosort2.5",
                     "--parameters", '{"thresholds": [10, 4]}')
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "imported 13 units, 788 spikes: S1/20230306_120000/phy probe 0, parameter set 1",
        "kept 21 files",
        "labels (group): 3 good, 10 mua",
        "labels (KSLabel): 3 good, 10 mua"]
    with use(Context(Lake("sqlite", root / "lake"), "lab_data", prefs)):
        key = dict(PHY, parameter_set_num=1)
        assert len(SpikeSorting.Unit & key) == 13 and len(SpikeSorting.IntermediateFiles & key) == 21
        assert (SpikeSorting.Unit & dict(key, unit_id=9)).fetch1("spike_times").tolist() == \
            np.load(FOLDER / "spike_times.npy").reshape(-1)[np.load(FOLDER / "spike_clusters.npy").reshape(-1) == 9
                                                            ].tolist()

    again = labdata(root, "sorting-import", str(FOLDER), *ARGS, "--algorithm", "kilosort2.5",
                    "--parameters", '{"thresholds": [10, 4]}')
    assert again.returncode == 1 and "exists already" in again.stderr and "hint: Delete it first" in again.stderr


def test_sorting_import_refuses_a_broken_folder_and_bad_parameters(lab, tmp_path) -> None:
    root, prefs = lab
    broken = tmp_path / "broken"
    shutil.copytree(FOLDER, broken)
    (broken / "spike_times.npy").chmod(0o644)
    (broken / "spike_times.npy").write_bytes((FOLDER / "spike_times.npy").read_bytes()[:200])
    result = labdata(root, "sorting-import", str(broken), *ARGS)
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: spike_times.npy in {broken}: the file cannot be read")
    assert "hint: Copy the file again" in result.stderr
    bad = labdata(root, "sorting-import", str(FOLDER), *ARGS, "--parameters", "[1, 2]")
    assert bad.returncode == 1 and "is not a JSON object" in bad.stderr
    with use(Context(Lake("sqlite", root / "lake"), "lab_data", prefs)):
        assert not SpikeSorting() and not AnalysisFile()
    assert not any((root / "analysis").rglob("*.npy"))


def test_sorting_import_with_metrics_counts_units(lab) -> None:
    root, prefs = lab
    from labdata.schema import UnitCount, UnitCountCriteria, UnitMetrics

    with use(Context(Lake("sqlite", root / "lake"), "lab_data", prefs)) as context:
        UnitCountCriteria.insert1(dict(unit_criteria_id=1, sua_criteria="num_spikes > 50"))
        context.lake.close()
    result = labdata(root, "sorting-import", str(FOLDER), *ARGS, "--algorithm", "kilosort2.5", "--metrics")
    assert result.returncode == 0, result.stderr
    with use(Context(Lake("sqlite", root / "lake"), "lab_data", prefs)) as context:
        spikes = np.load(FOLDER / "spike_clusters.npy").ravel()
        expected = int((np.bincount(spikes)[np.unique(spikes)] > 50).sum())
        count = UnitCount.fetch1()
        assert len(UnitMetrics()) == len(np.unique(spikes)) == count["all"] and count["sua"] == expected
        assert f"criteria 1: {expected} of {count['all']} single units" in result.stdout
        context.lake.close()
