"""Acceptance of the ``ephys`` rule: real SpikeGLX files put on a rig, uploaded, registered and read back."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from lab import NEW_SUBJECT, SESSION

from labdata.converters.spikeglx.meta import read_meta
from labdata.converters.spikeglx.synthetic import write_recording
from labdata.stores import open_store
from shared_data import SHARED_DATA

GIN = SHARED_DATA / "spikeglx" / "neuroconv-gin"
DATASET = f"S1/{SESSION}/ephys"


def ingest(lab, source: Path | list[Path], *, expect: str = "COMPLETED") -> dict[str, Path]:
    """Copy ``source`` (a folder, or files) to the rig, put with -r ephys, upload; return {file_path: rig copy}."""
    folder = lab.folders["rig"] / DATASET
    files = {}
    for item in [source] if isinstance(source, Path) else source:
        if item.is_dir():
            files.update(lab.rig_recording(item)[1])
        else:
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(item, folder / item.name)
            files[f"{DATASET}/{item.name}"] = folder / item.name
    put = lab.run("rig", "put", str(folder), "-r", "ephys", "-t", "ephys", *NEW_SUBJECT)
    assert put.returncode == 0, put.stderr
    upload = lab.run("server", "upload")
    assert f"job 1: {expect}" in upload.stdout, upload.stdout + upload.stderr
    return files


def raw_of(path: Path, n_channels: int) -> np.ndarray:
    return np.fromfile(path, dtype="<i2").reshape(-1, n_channels)


def test_digital_channel_test_nidq_gives_the_1_hz_sync_line(lab) -> None:
    files = ingest(lab, GIN / "DigitalChannelTest_g0")
    from labdata.schema import DatasetEvents, EphysRecording, File

    with lab.context("analyst"):
        stamps, values = (DatasetEvents.Digital & {"stream_name": "nidq", "event_name": "0"}).fetch1(
            "event_timestamps", "event_values")
        onsets = stamps[values == 1]
        assert len(onsets) in (162, 163)
        assert np.all(np.abs(np.diff(onsets) - 1.0) <= 1 / 2500 + 1e-9)
        assert not EphysRecording()  # no probe in this recording
        copy = (File & {"file_path": f"{DATASET}/DigitalChannelTest_g0_t0.nidq.bin"}).get(progress=False)[0]
    source = files[f"{DATASET}/DigitalChannelTest_g0_t0.nidq.bin"]
    assert copy.read_bytes() == source.read_bytes()


def test_noise4sam_nidq_analog_and_digital_ingest_bit_exact(lab) -> None:
    nidq = GIN / "Noise4Sam_g0"
    files = ingest(lab, [nidq / "Noise4Sam_g0_t0.nidq.bin", nidq / "Noise4Sam_g0_t0.nidq.meta"])
    from labdata.schema import DatasetEvents, File

    with lab.context("analyst"):
        lines = (DatasetEvents.Digital & {"stream_name": "nidq"}).fetch("event_name")
        path = (File & {"file_path": f"{DATASET}/Noise4Sam_g0_t0.nidq.bin"}).get(progress=False)[0]
    data = raw_of(path, 9)
    assert np.array_equal(data, raw_of(files[f"{DATASET}/Noise4Sam_g0_t0.nidq.bin"], 9))
    expected = {str(b) for b in range(16) if np.any(np.diff((data[:, 8].astype(np.uint16) >> b) & 1))}
    assert set(lines) == expected


def test_np_ultra_ap_and_lf_become_zarr_that_read_back_bit_exact(lab) -> None:
    files = ingest(lab, GIN / "np_ultra_stub" / "p5_g0")
    from labdata.schema import EphysRecording, File, ProbeConfiguration, ProcessedFile

    registered = lab.registered()
    assert {p for p in registered if p.endswith(".zarr.zip")} == {
        f"{DATASET}/p5_g0_imec0/p5_g0_t0.imec0.ap.zarr.zip", f"{DATASET}/p5_g0_imec0/p5_g0_t0.imec0.lf.zarr.zip"}
    assert not [p for p in registered if p.endswith(".bin")]
    assert sorted(open_store(lab.prefs["analyst"], "data").list()) == sorted(registered)
    with lab.context("analyst"):
        assert len(ProcessedFile & 'file_path LIKE "%.bin"') == 2
        recording = EphysRecording.fetch1()
        assert recording["n_probes"] == 1 and recording["recording_software"] == "spikeglx"
        setting = EphysRecording.ProbeSetting & recording
        configuration = (ProbeConfiguration & setting.proj("probe_id", "configuration_id")).fetch1()
        connected = read_meta(files[f"{DATASET}/p5_g0_imec0/p5_g0_t0.imec0.ap.meta"]).channels
        assert configuration["probe_n_channels"] == len(connected.saved_index) >= 383
        assert np.array_equal(configuration["channel_coords"], connected.coords)
        lazy = setting.open("ap")  # no local copy: chunks are read from the bucket
        assert not File.check_if_files_local()[0]
        for band in ("ap", "lf"):
            source = raw_of(files[f"{DATASET}/p5_g0_imec0/p5_g0_t0.imec0.{band}.bin"], 385)
            assert np.array_equal(setting.open(band)[:], source)
        ap = raw_of(files[f"{DATASET}/p5_g0_imec0/p5_g0_t0.imec0.ap.bin"], 385)
        assert np.array_equal(lazy[1234:4321, [0, 7, 384]], ap[1234:4321][:, [0, 7, 384]])
        microvolts = setting.get_samples(10, 20, channels=[3], units="uV")
        assert lazy.uv_per_bit[3] > 0 and np.allclose(microvolts[:, 0], ap[10:20, 3] * lazy.uv_per_bit[3])
        times, window = setting.get_window(0.1, 0.02, channels=[0, 1])
        assert window.shape == (600, 2) and times[0] == pytest.approx(0.1)


@pytest.mark.parametrize("folder, reason", [
    (GIN / "Noise4Sam_g0", "fileSizeBytes"),
    (GIN / "NP2_with_sync", "fileSizeBytes"),
    (GIN / "TEST_20210920_0_g0", "fileSizeBytes"),
])
def test_truncated_upstream_fixtures_are_rejected_and_nothing_is_registered(lab, folder, reason) -> None:
    ingest(lab, folder, expect="FAILED")
    job = lab.jobs()[0]
    assert reason in job["job_log"] and "truncated" in job["job_log"]
    assert lab.registered() == {}
    assert open_store(lab.prefs["server"], "data").list() == []
    from labdata.schema import DatasetEvents, EphysRecording, Probe

    with lab.context("server"):
        assert not EphysRecording() and not DatasetEvents() and not Probe()


def test_a_changed_byte_fails_the_sha1_and_a_wrong_channel_count_fails_the_meta(lab) -> None:
    source = GIN / "DigitalChannelTest_g0"
    folder, _ = lab.rig_recording(source)
    binary = folder / "DigitalChannelTest_g0_t0.nidq.bin"
    data = bytearray(binary.read_bytes())
    data[1000] ^= 0x01
    binary.write_bytes(bytes(data))
    assert lab.run("rig", "put", str(folder), "-r", "ephys", *NEW_SUBJECT).returncode == 0
    assert "job 1: FAILED" in lab.run("server", "upload").stdout
    assert "fileSHA1" in lab.jobs()[0]["job_log"] and lab.registered() == {}


def test_a_synthetic_np1_recording_with_drift_is_synced_to_the_nidq(lab) -> None:
    recording = write_recording(lab.folders["rig"] / DATASET / "demo_g0", duration=6.0, drift_ppm=20.0)
    put = lab.run("rig", "put", str(lab.folders["rig"] / DATASET), "-r", "ephys", *NEW_SUBJECT)
    assert put.returncode == 0, put.stderr
    assert "job 1: COMPLETED" in lab.run("server", "upload").stdout
    from labdata.schema import Dataset, DatasetEvents, EphysRecordingNoiseStats, StreamSync

    with lab.context("analyst"):
        assert len(EphysRecordingNoiseStats()) == 1
        assert EphysRecordingNoiseStats.fetch1("channel_mad").shape == (384, 2)
        dataset = Dataset.fetch1("KEY")
        StreamSync.insert1(dict(dataset, stream_name="imec0", event_name="6", clock_dataset=dataset["dataset_name"],
                                clock_stream="nidq", clock_stream_event="0"))
        imec = (DatasetEvents.Digital & {"stream_name": "imec0", "event_name": "6"}).fetch1("event_timestamps")
        clock = (DatasetEvents.Digital & {"stream_name": "nidq", "event_name": "0"}).fetch1("event_timestamps")
        assert imec.dtype == np.uint64  # the imec sync is kept in samples
        mapped = (StreamSync & dataset).apply(imec.astype(float))
        naive = imec / 30000.0
        assert np.max(np.abs(mapped - clock)) < 1 / 30000
        assert np.max(np.abs(naive - clock)) > 5 * 20e-6  # the drift is real: without sync it is off
        synced = {(e["stream_name"], e["event_name"]) for e in (DatasetEvents.Digital & dataset).fetch_synced()}
        assert ("nidq", "1") in synced and ("imec0", "6") in synced
        trials = (DatasetEvents.Digital & {"stream_name": "nidq", "event_name": "1"}).fetch1("event_timestamps")
    assert np.allclose(trials[::2], recording.trial_onsets, atol=1 / 25000 + 1e-9)


def test_rows_are_rebuilt_from_the_lake_files(lab) -> None:
    """Noise statistics (populate), nidq events and probe rows are computed again from the stored files."""
    write_recording(lab.folders["rig"] / DATASET / "demo_g0", duration=3.0, seed=3)
    assert lab.run("rig", "put", str(lab.folders["rig"] / DATASET), "-r", "ephys", *NEW_SUBJECT).returncode == 0
    assert "job 1: COMPLETED" in lab.run("server", "upload").stdout
    from labdata.schema import DatasetEvents, EphysRecording, EphysRecordingNoiseStats, ProbeConfiguration

    with lab.context("analyst"):
        noise = EphysRecordingNoiseStats.fetch1()
        nidq = (DatasetEvents.Digital & {"stream_name": "nidq"}).fetch(as_dict=True, order_by="event_name")
        (EphysRecordingNoiseStats & {}).delete()
        (DatasetEvents & {"stream_name": "nidq"}).delete()
        EphysRecordingNoiseStats.populate()  # reads the AP chunks from the bucket
        again = EphysRecordingNoiseStats.fetch1()
        for name in ("channel_median", "channel_mad", "channel_peak_to_peak"):
            assert np.allclose(again[name], noise[name])
        EphysRecording.add_nidq_events()  # downloads the nidq files
        rebuilt = (DatasetEvents.Digital & {"stream_name": "nidq"}).fetch(as_dict=True, order_by="event_name")
        assert [r["event_name"] for r in rebuilt] == [r["event_name"] for r in nidq] == ["0", "1"]
        assert all(np.array_equal(a["event_timestamps"], b["event_timestamps"])
                   for a, b in zip(rebuilt, nidq, strict=True))
        meta = lab.folders["rig"] / DATASET / "demo_g0" / "demo_g0_t0.imec0.ap.meta"
        assert ProbeConfiguration.add_from_spikeglx_metadata(meta)["configuration_id"] == 1  # reused
        assert len(ProbeConfiguration()) == 1
