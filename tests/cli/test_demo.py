"""The main job, ``labdata demo``, and the command line's error reporting."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from labdata.catalog import Context, Lake, use
from labdata.cli.main import main
from labdata.schema import Dataset, Session, Subject
from templates import set_data_path


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Result]]:
    """One ``labdata demo`` for the module (it writes, puts and uploads a recording): its lake and result.

    The tests of ``labdata sql`` query copies of this lake instead of running the demo again.
    """
    from labdata.catalog.engine.context import default_contexts

    home = tmp_path_factory.mktemp("demo_home")
    with pytest.MonkeyPatch.context() as monkeypatch:  # as private_labdata_folder does for each test
        monkeypatch.setenv("LABDATA_PATH", str(home / "labdata"))
        monkeypatch.setenv("HOME", str(home))
        for name in ("LABDATA_DATABASE_PROJECT", "LABDATA_PREFERENCES", "LABDATA_LAKE_PATH", "LABDATA_CATALOG_KIND",
                     "LABDATA_CATALOG_DSN", "LABDATA_CATALOG_DATA_PATH", "LABDATA_OVERRIDE_DATAPATH"):
            monkeypatch.delenv(name, raising=False)
        path = tmp_path_factory.mktemp("demo") / "demo-lake"
        result = CliRunner().invoke(main, ["demo", "--path", str(path)])
        default_contexts.reset()
        yield path, result


def demo_lake(demo_run: tuple[Path, Result], tmp_path: Path) -> Path:
    """A copy of the demo's lake for one test."""
    path, result = demo_run
    assert result.exit_code == 0, result.output
    shutil.copytree(path, tmp_path / "lake")
    set_data_path(tmp_path / "lake")
    return tmp_path / "lake"


def test_demo_fills_a_fresh_lake_and_prints_a_query(demo_run: tuple[Path, Result]) -> None:
    path, result = demo_run
    assert result.exit_code == 0, result.output
    assert "Subject 3, Session 6, Dataset 12" in result.output
    assert "JC178" in result.output and "ephys_g0" in result.output
    assert "uploaded with the ephys rule" in result.output and "spikeglx" in result.output
    with use(Context(Lake("sqlite", path), "demo")):
        assert len(Subject()) == 3 and len(Session()) == 6 and len(Dataset()) == 12
        assert set(Dataset.fetch("dataset_type")) == {"ephys", "task-training"}
        from labdata.schema import DatasetEvents, EphysRecording, File

        assert EphysRecording.fetch1("n_probes") == 1
        assert [p for p in File.fetch("file_path") if p.endswith(".zarr.zip")] == [
            "JC178/20240304_103000/ephys_g0/demo_g0/demo_g0_t0.imec0.ap.zarr.zip"]
        synced = {(e["stream_name"], e["event_name"]): e["event_timestamps"][e["event_values"] == 1]
                  for e in DatasetEvents.Digital.fetch_synced()}
        onsets = synced[("imec0", "6")]  # on the NI-DAQ clock: the pulses are 1.000 s apart
        assert len(onsets) == 3 and abs(onsets[1] - onsets[0] - 1.0) < 1 / 30000


def test_demo_sorts_its_recording_and_counts_units(demo_run: tuple[Path, Result]) -> None:
    path, result = demo_run
    assert result.exit_code == 0, result.output
    assert "get_spike_times(include_metrics=True)" in result.output
    assert "sub-JC178_ses-20240304-103000_ecephys.nwb" in result.output
    assert "nwbinspector (DANDI): 0 CRITICAL, 0 BEST_PRACTICE_VIOLATION" in result.output
    from labdata.schema import SpikeSorting, UnitCount, UnitMetrics

    with use(Context(Lake("sqlite", path), "demo")):
        key = SpikeSorting.fetch1("KEY")
        n_units = len(SpikeSorting.Unit & key)
        assert n_units > 100 and len(SpikeSorting.Waveforms & key) == n_units == len(UnitMetrics & key)
        count = (UnitCount & key).fetch1()
        passing = (SpikeSorting.Unit & (UnitCount.Unit & key & "passes = 1")).get_spike_times()
        assert count["all"] == n_units and count["sua"] == len(passing) > 0
        assert f"{len(passing)} pass the criteria" in result.output
        first = passing[0]
        assert f"│ {first['unit_id']} " in result.output and f" {len(first['spike_times'])} " in result.output
        rates = UnitMetrics & key & {"unit_id": first["unit_id"]}
        assert rates.fetch1("num_spikes") == len(first["spike_times"])


def test_demo_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "something").write_text("x")
    result = CliRunner().invoke(main, ["demo", "--path", str(tmp_path)])
    assert result.exit_code == 1
    assert "is not empty" in result.output and "hint:" in result.output


def test_help_lists_the_commands() -> None:
    result = subprocess.run([sys.executable, "-m", "labdata.cli", "--help"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "demo" in result.stdout and "sql" in result.stdout


def test_sql_command_queries_a_lake(demo_run, tmp_path: Path) -> None:
    demo_lake(demo_run, tmp_path)
    result = CliRunner().invoke(main, ["sql", "--path", str(tmp_path / "lake"), "-p", "demo",
                                       "SELECT count(*) AS sessions FROM session"])
    assert result.exit_code == 0, result.output
    assert "6" in result.output
    rig = {"LABDATA_PREFERENCES": str(tmp_path / "lake" / "rig_preferences.json")}  # the demo's own preferences
    result = CliRunner(env=rig).invoke(main, ["sql", "SELECT count(*) AS sessions FROM session"])
    assert result.exit_code == 0 and "6" in result.output, result.output


def test_sql_command_reports_an_unknown_project_and_bad_sql(demo_run, tmp_path: Path) -> None:
    demo_lake(demo_run, tmp_path)
    result = CliRunner().invoke(main, ["sql", "--path", str(tmp_path / "lake"), "-p", "nope", "SELECT 1"])
    assert result.exit_code == 1 and "no project 'nope'" in result.output and "demo" in result.output
    result = CliRunner().invoke(main, ["sql", "--path", str(tmp_path / "lake"), "-p", "demo", "SELEC oops"])
    assert result.exit_code == 1 and "The SQL failed" in result.output and "hint:" in result.output


def test_the_demo_session_exports_to_nwb_that_the_dandi_inspector_accepts(demo_run: tuple[Path, Result],
                                                                        tmp_path: Path) -> None:
    from pynwb import NWBHDF5IO

    from labdata.core.config import Preferences
    from labdata.schema import EphysRecording, ProbeConfiguration, SpikeSorting, UnitMetrics

    path, result = demo_run
    assert result.exit_code == 0, result.output
    prefs = path / "server_preferences.json"  # reaches the storage that holds the demo's recording
    args = ["export", "nwb", "-a", "JC178", "-s", "20240304_103000", "-o", str(tmp_path / "dandiset"),
            "--path", str(path), "-p", "demo", "--no-progress"]
    exported = CliRunner().invoke(main, args, env={"LABDATA_PREFERENCES": str(prefs)})
    assert exported.exit_code == 0, exported.output
    assert "0 CRITICAL, 0 BEST_PRACTICE_VIOLATION" in exported.output
    file = tmp_path / "dandiset" / "sub-JC178" / "sub-JC178_ses-20240304-103000_ecephys.nwb"
    with use(Context(Lake("sqlite", path), "demo", Preferences.load(prefs))), NWBHDF5IO(str(file), "r") as io:
        nwb = io.read()
        setting = EphysRecording.ProbeSetting & {"subject_name": "JC178"}
        channels = (ProbeConfiguration & setting.proj("probe_id", "configuration_id")).fetch1("channel_idx")
        raw = setting.fetch1("KEY")
        samples = (EphysRecording.ProbeSetting & raw).get_samples(0, 40_000, channels=channels)
        assert np.array_equal(nwb.acquisition["ElectricalSeriesEphysG0Imec0Ap"].data[:40_000], samples)
        units = {u["unit_id"]: u for u in SpikeSorting.Unit().get_spike_times(synced=True)}
        table = nwb.units.to_dataframe()
        assert sorted(table.index) == sorted(units)
        first = int(table.index[0])
        assert np.array_equal(table.loc[first, "spike_times"], units[first]["spike_times"])
        rates = dict(zip(*UnitMetrics.fetch("unit_id", "firing_rate"), strict=True))
        assert np.allclose(table["firing_rate"].to_numpy(), [rates[u] for u in table.index], equal_nan=True)
        assert nwb.subject.species == "Mus musculus" and nwb.session_start_time.tzinfo is not None
    again = CliRunner().invoke(main, args, env={"LABDATA_PREFERENCES": str(prefs)})
    assert again.exit_code == 1 and "exists" in again.output and "hint:" in again.output
    unknown = CliRunner().invoke(main, [*args[:4], "-s", "19990101_000000", *args[6:]],
                                 env={"LABDATA_PREFERENCES": str(prefs)})
    assert unknown.exit_code == 1 and "No session matches" in unknown.output


def test_an_export_to_the_analysis_storage_is_registered(demo_run: tuple[Path, Result], tmp_path: Path) -> None:
    from labdata.core.config import Preferences
    from labdata.schema import AnalysisFile

    lake = demo_lake(demo_run, tmp_path)
    prefs = Preferences.load(demo_run[0] / "server_preferences.json").as_dict()
    (tmp_path / "analysis").mkdir()
    prefs["storage"]["analysis"] = {"protocol": "local", "folder": str(tmp_path / "analysis")}
    preferences = Preferences(prefs, path=tmp_path / "prefs.json", labdata_path=tmp_path / "labdata", environ={})
    preferences.save()
    args = ["export", "nwb", "-a", "JC178", "-s", "20240304_103000", "--to-storage", "--no-raw", "--path", str(lake),
            "-p", "demo", "--no-progress"]
    result = CliRunner().invoke(main, args, env={"LABDATA_PREFERENCES": str(tmp_path / "prefs.json")})
    assert result.exit_code == 0, result.output
    stored = "demo/JC178/20240304_103000/nwb/sub-JC178_ses-20240304-103000_ecephys.nwb"
    assert f"stored {stored} in storage analysis" in result.output
    with use(Context(Lake("sqlite", lake), "demo", preferences)):
        row = (AnalysisFile & {"file_path": stored}).fetch1()
        assert row["file_size"] == (tmp_path / "analysis" / stored).stat().st_size > 0
    again = CliRunner().invoke(main, args, env={"LABDATA_PREFERENCES": str(tmp_path / "prefs.json")})
    assert again.exit_code == 1 and "registered already" in again.output


def test_an_export_holds_procedures_brain_regions_and_trials(demo_run: tuple[Path, Result], tmp_path: Path) -> None:
    import datetime as dt

    from pynwb import NWBHDF5IO

    from labdata.converters.nwb import inspection_summary
    from labdata.core.config import Preferences
    from labdata.schema import (
        Atlas,
        DecisionTask,
        EphysRecording,
        LabMember,
        ProbeBrainRegion,
        ProbeInsertion,
        Procedure,
    )
    from labdata.schema.nwb_export import export_nwb

    lake = demo_lake(demo_run, tmp_path)
    session = {"subject_name": "JC178", "session_name": "20240304_103000"}
    with use(Context(Lake("sqlite", lake), "demo", Preferences.load(demo_run[0] / "server_preferences.json"))):
        setting = (EphysRecording.ProbeSetting & session).fetch1()
        surgery = {**session, "procedure_type": "surgery", "procedure_datetime": dt.datetime(2024, 2, 1, 9, 30)}
        del surgery["session_name"]
        if not LabMember & {"user_name": "jcouto"}:
            LabMember.insert1({"user_name": "jcouto", "date_joined": dt.date(2020, 1, 1)})
        Procedure.insert1({**surgery, "user_name": "jcouto", "procedure_metadata": {"anesthesia": "isoflurane"}})
        Procedure.insert1({**surgery, "procedure_datetime": dt.datetime(2030, 1, 1), "procedure_type": "euthanasia",
                           "user_name": "jcouto"})  # after the session: not in its file
        probe = {"probe_id": (EphysRecording.ProbeSetting & session).proj("probe_id").fetch1("probe_id"),
                 "configuration_id": setting["configuration_id"]}
        ProbeInsertion.insert1({**surgery, "probe_id": probe["probe_id"], "insertion_ap": -2000, "insertion_ml": 1500,
                                "insertion_depth": 3500, "insertion_el": 90, "insertion_az": 0})
        Atlas.insert1({"atlas_id": "ccf2017"})
        Atlas.Region.insert1({"atlas_id": "ccf2017", "region_acronym": "CA1", "region_name": "Field CA1",
                              "region_id": 382, "region_atlas_id": 382, "region_level": 8,
                              "structure_id_path": "/997/8/567/688/695/1089/1080/375/382/"})
        ProbeBrainRegion.insert1({**surgery, **probe, "atlas_id": "ccf2017", "region_acronym": "CA1",
                                  "electrodes": np.arange(10, 20)})
        trials = dict(session, dataset_name=setting["dataset_name"], trialset_description="visual", n_trials=3,
                      n_performed=3, n_with_choice=2, n_correct=1, trial_num=np.array([1, 2, 3]),
                      initiation_times=np.array([1.0, 5.0, 9.0]), response_values=np.array([1, -1, 0]),
                      correct_values=np.array([1.0, 0.0, np.nan]), reaction_times=np.array([0.4, 0.6, np.nan]))
        DecisionTask.insert1(dict(session, dataset_name=setting["dataset_name"], n_total_trials=3),
                             allow_direct_insert=True)
        DecisionTask.TrialSet.insert1(trials, allow_direct_insert=True)
        file = export_nwb(Session & session, tmp_path / "out", raw=False, progress=False)[0]
    assert "0 CRITICAL, 0 BEST_PRACTICE_VIOLATION" in inspection_summary(file)
    with NWBHDF5IO(str(file), "r") as io:
        nwb = io.read()
        assert "2024-02-01 09:30 surgery by jcouto" in nwb.surgery and "isoflurane" in nwb.surgery
        assert "AP -2000 um" in nwb.surgery and "euthanasia" not in nwb.surgery
        locations = nwb.electrodes["location"][:]
        assert list(locations[10:20]) == ["CA1"] * 10 and set(locations[:10]) == {"root"}
        table = nwb.trials.to_dataframe()
        assert table["start_time"].tolist() == [1.0, 5.0, 9.0]
        assert table["stop_time"].tolist() == [5.0, 9.0, 13.0]  # until the next trial; the last as long as most
        assert table["response_values"].tolist() == [1, -1, 0] and set(table["trialset"]) == {"visual"}
