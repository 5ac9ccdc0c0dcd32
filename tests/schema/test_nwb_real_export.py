"""Acceptance of the NWB export on a real SpikeGLX recording (issue 16).

One lab (``tests/upload/lab.py``) is built once for the module: a real NP Ultra AP + LF recording
(``np_ultra_stub/p5_g0``, byte-exact to its meta) and a real NI-DAQ file whose digital line 0 carries
SpikeGLX's 1 Hz sync square wave (``DigitalChannelTest_g0``) are put on the rig with the ``ephys`` rule and
uploaded, which registers EphysRecording, the probe and the nidq's DatasetEvents.Digital; a SpikeInterface
sorting generated for the recording's duration is added with ``SpikeSorting.add_from_spikeinterface`` and
UnitMetrics are populated. (Noise4Sam's AP file is truncated upstream and refused by the rule, and its nidq
digital word never changes, so it cannot serve here; the imec sync channel of p5_g0 carries no pulse either,
so the lake can make no StreamSync for this session and spike times stay on the probe's clock.)

The session is exported as HDF5 and NWB-Zarr once; the tests check DANDI's inspector and ``dandi validate``,
read the files back with pynwb and with SpikeInterface's NWB extractors against the lake's own samples, spike
times and metrics, and kill exports with SIGKILL (to a folder and to the analysis storage).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from lab import NEW_SUBJECT, Lab
from nwbinspector import Importance, inspect_nwbfile, inspect_nwbfile_object, load_config
from pynwb import NWBHDF5IO

from labdata.converters.nwb import inspection_summary, trusted_zarr_reading
from shared_data import SHARED_DATA

GIN = SHARED_DATA / "spikeglx" / "neuroconv-gin"
RECORDING = GIN / "np_ultra_stub" / "p5_g0"
NIDQ = GIN / "DigitalChannelTest_g0"
SUBJECT, SESSION = "S1", "20240101_120000"
NWB_NAME = f"sub-{SUBJECT}/sub-{SUBJECT}_ses-{SESSION.replace('_', '-')}_ecephys.nwb"
SERIES = "ElectricalSeriesEphysImec0Ap"
FAULTS = Path(__file__).parents[1] / "upload" / "faults.py"


def _build_lab(root: Path, endpoint: str) -> Lab:
    bucket = f"labdata-{uuid.uuid4().hex[:12]}"
    lab = Lab(root, endpoint, bucket)
    import boto3

    boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test",
                 region_name="us-east-1").create_bucket(Bucket=bucket)
    folder, _ = lab.rig_recording(RECORDING)
    for file in NIDQ.iterdir():
        shutil.copyfile(file, folder / file.name)
    put = lab.run("rig", "put", str(folder), "-r", "ephys", "-t", "ephys", *NEW_SUBJECT)
    assert put.returncode == 0, put.stderr
    upload = lab.run("server", "upload")
    assert "job 1: COMPLETED" in upload.stdout, upload.stdout + upload.stderr
    lab.prefs["analyst"].set("storage.analysis", {"protocol": "s3", "endpoint": endpoint, "bucket": bucket,
                                                   "folder": "analysis", "access_key": "test", "secret_key": "test"})
    lab.prefs["analyst"].save()
    return lab


def _add_sorting(setting: dict[str, Any]) -> dict[str, Any]:
    """A sorting generated for the recording's duration (spike times only), and its UnitMetrics."""
    from spikeinterface.core import generate_sorting

    from labdata.schema import EphysRecording, SpikeSorting, UnitMetrics

    samples = len((EphysRecording.ProbeSetting & setting).open("ap"))
    sorting = generate_sorting(num_units=7, sampling_frequency=30_000.0, durations=[samples / 30_000.0],
                               firing_rates=90.0, refractory_period_ms=2.0, seed=16)
    key = SpikeSorting().add_from_spikeinterface(sorting, setting, algorithm_name="generated")
    UnitMetrics.populate(key)
    return key


def _lake_values(key: dict[str, Any]) -> SimpleNamespace:
    """What the export must hold, read from the lake."""
    from labdata.schema import DatasetEvents, EphysRecording, ProbeConfiguration, SpikeSorting, UnitMetrics

    setting = EphysRecording.ProbeSetting & key
    configuration = (ProbeConfiguration & setting.proj("probe_id", "configuration_id")).fetch1()
    columns = np.asarray(configuration["channel_idx"], dtype=int)
    units = (SpikeSorting.Unit & key).get_spike_times(synced=True, warn=False)
    rows = (DatasetEvents.Digital & key & {"stream_name": "nidq"}).fetch(as_dict=True)
    return SimpleNamespace(
        ap=np.asarray(setting.open("ap")[:])[:, columns], lf=np.asarray(setting.open("lf")[:])[:, columns],
        columns=columns, gain=float(configuration["probe_gain"]),
        spike_times={int(u["unit_id"]): np.asarray(u["spike_times"]) for u in units},
        spike_samples={int(u): np.asarray(t) for u, t in zip(*(SpikeSorting.Unit & key).fetch(
            "unit_id", "spike_times"), strict=True)},
        metrics={int(m["unit_id"]): m for m in (UnitMetrics & key).fetch(as_dict=True)},
        metric_names=[n for n in UnitMetrics.heading.names if n not in (*UnitMetrics.primary_key, "position",
                                                                          "active_electrodes")],
        events={r["event_name"]: (np.asarray(r["event_timestamps"]), np.asarray(r["event_values"])) for r in rows})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, s3_server: Any) -> Iterator[SimpleNamespace]:
    root = tmp_path_factory.mktemp("nwb_real")
    with pytest.MonkeyPatch.context() as patch:  # set up before the per-test private folder: never ~/labdata
        patch.setenv("LABDATA_PATH", str(root / "labdata"))
        patch.setenv("HOME", str(root))
        yield _world(root, s3_server.endpoint)


def _world(root: Path, endpoint: str) -> SimpleNamespace:
    from labdata.schema import EphysRecording, Session
    from labdata.schema.nwb_export import export_nwb

    lab = _build_lab(root / "lab", endpoint)
    with lab.context("analyst"):
        # put records the subject's responsible member as the session's experimenter (DANDI requires one)
        assert (Session & {"subject_name": SUBJECT, "session_name": SESSION}).fetch1("experimenter")
        setting = EphysRecording.ProbeSetting.fetch1("KEY")
        key = _add_sorting(setting)
        expected = _lake_values(key)
        hdf5 = export_nwb(EphysRecording & key, root / "dandiset", progress=False)[0]
        zarr = export_nwb(EphysRecording & key, root / "zarr", backend="zarr", progress=False)[0]
    return SimpleNamespace(root=root, lab=lab, key=key, expected=expected, hdf5=hdf5, zarr=zarr,
                           labdata_path=os.environ["LABDATA_PATH"])


@pytest.fixture(autouse=True)
def secrets_key(world: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lab's preference files hold secrets encrypted with the key of the folder the module's first test had."""
    monkeypatch.setenv("LABDATA_PATH", world.labdata_path)


def _blocking(messages: Any) -> list[Any]:
    return [m for m in messages if m is not None and m.importance in (Importance.CRITICAL,
                                                                      Importance.BEST_PRACTICE_VIOLATION)]


def _check_read_back(nwb: Any, expected: SimpleNamespace) -> None:
    series = nwb.acquisition[SERIES]
    assert series.data.dtype == np.int16 and np.array_equal(series.data[:], expected.ap), "raw AP bit-exact"
    assert series.conversion == pytest.approx(expected.gain * 1e-6) and series.rate == 30_000.0
    assert len(series.electrodes.data[:]) == len(expected.columns) == 383  # the probe's channels, no sync
    assert np.array_equal(nwb.acquisition["ElectricalSeriesEphysImec0Lf"].data[:], expected.lf)
    units = nwb.units
    assert sorted(int(i) for i in units.id[:]) == sorted(expected.spike_times)
    metric_names = [n for n in units.colnames if n not in ("spike_times", "electrode_group", "waveform_median")]
    assert sorted(metric_names) == sorted(expected.metric_names), "every numeric UnitMetrics column"
    assert not np.isnan(np.asarray(units["firing_rate"][:], dtype=float)).any()  # (most are NaN without waveforms)
    for index, unit_id in enumerate(int(i) for i in units.id[:]):
        assert np.array_equal(units["spike_times"][index], expected.spike_times[unit_id]), "spike times exact"
        for name in metric_names:
            value = expected.metrics[unit_id][name]
            value = np.nan if value is None else float(value)
            stored = units[name][index]
            assert stored == value or (np.isnan(stored) and np.isnan(value)), (unit_id, name, stored, value)
    assert expected.events, "the nidq has digital lines"
    for line, (times, values) in expected.events.items():
        intervals = nwb.intervals[f"ephys_nidq_{line}"]
        assert np.array_equal(intervals.start_time[:], times[values != 0])
        assert (intervals.stop_time[:] > intervals.start_time[:]).all()


def test_hdf5_export_passes_the_dandi_inspector_and_reads_back_exactly(world: SimpleNamespace) -> None:
    assert world.hdf5 == world.root / "dandiset" / NWB_NAME
    messages = list(inspect_nwbfile(nwbfile_path=world.hdf5, config=load_config("dandi")))
    assert not [m for m in messages if m is not None and m.importance == Importance.ERROR], messages
    assert _blocking(messages) == []
    with NWBHDF5IO(str(world.hdf5), "r") as io:
        _check_read_back(io.read(), world.expected)


def test_zarr_export_passes_the_dandi_inspector_and_reads_back_exactly(world: SimpleNamespace) -> None:
    from hdmf_zarr.nwb import NWBZarrIO

    with trusted_zarr_reading(), NWBZarrIO(str(world.zarr), "r") as io:
        nwb = io.read()
        messages = list(inspect_nwbfile_object(nwb, config=load_config("dandi")))
        assert _blocking(messages) == []
        _check_read_back(nwb, world.expected)


def test_dandi_validate_passes_on_the_exported_folder(world: SimpleNamespace, tmp_path: Path) -> None:
    dandiset = tmp_path / "dandiset"
    shutil.copytree(world.root / "dandiset", dandiset)
    (dandiset / "dandiset.yaml").write_text("identifier: '000000'\n")  # what `dandi download` of a Dandiset puts there
    result = _dandi_validate(dandiset, tmp_path)
    assert result.returncode == 0 and "No errors found" in result.stdout, result.stdout + result.stderr
    misplaced = dandiset / "derived" / "session.nwb"  # the same file outside DANDI's organisation is refused
    misplaced.parent.mkdir()
    shutil.copyfile(world.hdf5, misplaced)
    refused = _dandi_validate(dandiset, tmp_path)
    assert refused.returncode == 1 and "NON_DANDI_FILENAME" in refused.stdout, refused.stdout


def _dandi_validate(folder: Path, home: Path) -> subprocess.CompletedProcess:
    dandi = Path(sys.executable).with_name("dandi")
    return subprocess.run([str(dandi), "validate", str(folder)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "DANDI_NO_ET": "1", "HOME": str(home)})  # no version check online


def test_spikeinterface_nwb_extractors_read_the_export(world: SimpleNamespace) -> None:
    from spikeinterface.extractors import read_nwb_recording, read_nwb_sorting

    recording = read_nwb_recording(world.hdf5, electrical_series_path=f"acquisition/{SERIES}")
    assert recording.get_sampling_frequency() == 30_000.0 and recording.get_num_channels() == 383
    assert np.array_equal(recording.get_traces(return_in_uV=False), world.expected.ap)
    microvolts = recording.get_traces(start_frame=100, end_frame=300, return_in_uV=True)
    assert np.allclose(microvolts, world.expected.ap[100:300] * world.expected.gain, rtol=1e-6)
    sorting = read_nwb_sorting(world.hdf5, sampling_frequency=30_000.0, t_start=0.0)
    assert sorted(int(u) for u in sorting.unit_ids) == sorted(world.expected.spike_samples)
    for unit_id in sorting.unit_ids:
        assert np.array_equal(sorting.get_unit_spike_train(unit_id), world.expected.spike_samples[int(unit_id)])
    assert "firing_rate" in sorting.get_property_keys()


# ---- SIGKILL during an export ---------------------------------------------------------------------------------

#: a child process running ``labdata ARGS`` that kills itself with SIGKILL at a point of the export: when the
#: writer asks for the LF samples (the AP samples are in the partial file, which is not closed), or just before
#: the stored file's AnalysisFile row is inserted (its object is in the analysis storage, its intent committed)
KILLED_EXPORT = """
import json, os, signal, sys
from labdata.cli.main import main
from labdata.converters.nwb import chunks
from labdata.schema import analysis_upload

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

if os.environ["KILL_AT"] == "raw":
    get_data, calls = chunks.SampleChunkIterator._get_data, []
    def get_data_then_die(self, selection):
        calls.append(selection)
        if len(calls) == 2:  # the LF stream's first block: the AP samples are written
            die()
        return get_data(self, selection)
    chunks.SampleChunkIterator._get_data = get_data_then_die
else:
    analysis_upload.register_staged = die
main(json.loads(os.environ["ARGS"]), prog_name="labdata")
"""
EXPORT = ["export", "nwb", "-a", SUBJECT, "-s", SESSION, "--no-progress"]


def _killed(lab: Lab, kill_at: str, temporary: Path, *args: str) -> subprocess.CompletedProcess:
    temporary.mkdir()
    env = {**lab.env("analyst"), "KILL_AT": kill_at, "ARGS": json.dumps([*EXPORT, *args]), "TMPDIR": str(temporary)}
    return subprocess.run([sys.executable, "-c", KILLED_EXPORT], env=env, capture_output=True, text=True, timeout=300)


def test_a_killed_export_leaves_only_a_partial_file_that_the_next_export_replaces(world: SimpleNamespace,
                                                                                 tmp_path: Path) -> None:
    folder = tmp_path / "dandiset"
    killed = _killed(world.lab, "raw", tmp_path / "tmp", "-o", str(folder))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    final = folder / NWB_NAME
    assert not final.exists()
    partials = list(final.parent.glob(f".partial-*-{final.name}"))
    assert len(partials) == 1, "the file being written is only under its partial name"
    again = world.lab.run("analyst", *EXPORT, "-o", str(folder))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 CRITICAL, 0 BEST_PRACTICE_VIOLATION" in again.stdout
    assert sorted(p.name for p in final.parent.iterdir()) == [final.name], "the stale partial is gone"
    with NWBHDF5IO(str(final), "r") as io:
        assert np.array_equal(io.read().acquisition[SERIES].data[:], world.expected.ap)


@pytest.mark.parametrize("kill_at", ["raw", "register"])
def test_a_killed_export_to_storage_registers_nothing_and_a_rerun_registers_it_once(
        world: SimpleNamespace, tmp_path: Path, kill_at: str) -> None:
    from labdata.schema import AnalysisFile
    from labdata.schema.file_objects import pending_uploads
    from labdata.stores import open_store

    lab = world.lab.copy(tmp_path / "lab", f"labdata-{uuid.uuid4().hex[:12]}")
    stored = f"{SUBJECT}/{SESSION}/nwb/{Path(NWB_NAME).name}"
    killed = _killed(lab, kill_at, tmp_path / "tmp", "--to-storage")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    left = [p.relative_to(tmp_path / "tmp") for p in (tmp_path / "tmp").rglob("*") if p.is_file()]
    if kill_at == "raw":  # the file was being written in a temporary folder, which a SIGKILL cannot remove
        assert [p.parent.name for p in left] == [f"sub-{SUBJECT}"] and left[0].name.startswith(".partial-"), left
    store = open_store(lab.prefs["analyst"], "analysis")
    with lab.context("analyst") as context:
        assert not AnalysisFile(), "no row for a killed export"
        pending = pending_uploads(context)
        assert pending == ([] if kill_at == "raw" else [("analysis", stored)])  # an intent names the object
    assert store.list() == ([] if kill_at == "raw" else [stored])
    again = lab.run("analyst", *EXPORT, "--to-storage")
    assert again.returncode == 0 and f"stored {stored} in storage analysis" in again.stdout, again.stdout
    with lab.context("analyst") as context:
        assert AnalysisFile.fetch("file_path").tolist() == [stored]
        assert pending_uploads(context) == []
    assert store.list() == [stored]
    copy = tmp_path / "stored.nwb"
    store.get(stored, copy)
    assert inspection_summary(copy).startswith("nwbinspector (DANDI): 0 CRITICAL, 0 BEST_PRACTICE_VIOLATION")
    with NWBHDF5IO(str(copy), "r") as io:
        assert np.array_equal(io.read().acquisition[SERIES].data[:], world.expected.ap)
