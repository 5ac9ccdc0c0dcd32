"""Table methods reach sibling tables through the context of the table they are called on.

One lake holds two projects. The default one (``lab_data``) is current in every test; it
holds no rows of its own, and its preferences name an empty local path and empty
storages. ``other``, reached through ``load_project_schema("other", context=...)`` with
preferences naming the storage that holds the files, holds a SpikeGLX recording (a
synthetic NP1.0 probe and NI-DAQ), a session with two synced streams and a few files.
Every method that reads a sibling table, called on a table of ``other``, must read and
write ``other``'s rows and use ``other``'s preferences, whatever the current context.

Methods covered: ProbeSetting.band_files, recording_file, open (from the storage and
downloaded), get_samples, get_window; EphysRecordingNoiseStats.make;
EphysRecording.add_nidq_events, add_spikeglx_recording;
ProbeConfiguration.add_from_spikeglx_metadata; StreamSync.get_interp_data, apply,
clock_stream; DatasetEvents.Digital.fetch_synced, plot_synced; File.check_if_files_local,
check_if_files_archived, get, delete; AnalysisFile.generate_filepaths, upload_files, get,
delete.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import matplotlib
import numpy as np
import pytest

from labdata.catalog import Context, Lake, use
from labdata.catalog.engine.context import DEFAULT_PROJECT
from labdata.catalog.ops.insert import making
from labdata.converters.spikeglx.compression import compress_bin
from labdata.converters.spikeglx.meta import read_meta
from labdata.converters.spikeglx.synthetic import write_recording
from labdata.core.config import Preferences
from labdata.schema import (
    DatasetEvents,
    EphysRecording,
    EphysRecordingNoiseStats,
    ProbeConfiguration,
    StreamSync,
    load_project_schema,
)
from labdata.schema.ephys_methods import ProbeStream, register_spikeglx, stream_events_of
from labdata.stores import md5_of

matplotlib.use("Agg")

SESSION = "20240101_120000"
KEY = dict(subject_name="S1", session_name=SESSION, dataset_name="ephys")
REBUILT = KEY | dict(dataset_name="ephys_again")        # the same files, rows rebuilt by a method
SYNCED = KEY | dict(dataset_name="sync")                # two streams and a StreamSync
FOLDER = f"S1/{SESSION}/ephys/demo_g0"
STEM = f"{FOLDER}/demo_g0_t0"
NOTES = "S1/notes.txt"
FS_TRUE, OFFSET = 30000.0 * (1 + 20e-6), 4321.0       # imec samples per clock second, sample at clock 0
EVENT_SECONDS = np.array([2.5, 7.25, 19.5])


def preferences(root: Path, name: str) -> Preferences:
    """Preferences of ``name``: its own local path and ``data`` / ``analysis`` storages under ``root/name``."""
    prefs = Preferences({}, path=root / f"{name}.json", labdata_path=root / "labdata", environ={})
    prefs.set("local_paths", [str(root / name / "local")])
    for storage in ("data", "analysis"):
        (root / name / storage).mkdir(parents=True)
        prefs.set(f"storage.{storage}", {"protocol": "local", "folder": str(root / name / storage)})
    return prefs


def store(world: SimpleNamespace, relative: str, source: Path) -> dict[str, str]:
    """Copy ``source`` into ``other``'s data storage at ``relative`` and register it in File."""
    target = world.root / "other" / "data" / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    key = dict(file_path=relative, storage="data")
    world.other.File.insert1(dict(key, file_datetime=dt.datetime(2024, 1, 1, 12),
                                  file_size=float(target.stat().st_size), file_md5=md5_of(target)))
    return key


def add_recording(world: SimpleNamespace) -> None:
    """A 0.5 s synthetic recording in ``other``'s storage, in the datasets KEY and REBUILT; KEY's rows registered."""
    source = world.root / "source"
    write_recording(source, duration=0.5, seed=1)
    meta = read_meta(source / "demo_g0_t0.imec0.ap.meta")
    compress_bin(source / "demo_g0_t0.imec0.ap.bin", meta)
    names = ["imec0.ap.zarr.zip", "imec0.ap.meta", "nidq.bin", "nidq.meta"]
    files = [store(world, f"{STEM}.{name}", source / f"demo_g0_t0.{name}") for name in names]
    world.other.Dataset.insert([KEY, REBUILT])
    world.other.Dataset.DataFiles.insert([dataset | f for dataset in (KEY, REBUILT) for f in files])
    with use(world.other.context):  # the upload server registers a job's rows in the job's project
        register_spikeglx(KEY, [ProbeStream(meta, [f["file_path"] for f in files[:2]], "data")], {})
    world.meta, world.ap = source / "demo_g0_t0.imec0.ap.meta", source / "demo_g0_t0.imec0.ap.bin"


def add_synced_session(other: SimpleNamespace) -> None:
    """SYNCED: a clock stream (seconds) and an imec stream (samples) sharing 20 pulses, and their StreamSync."""
    other.Dataset.insert1(SYNCED)
    other.DatasetEvents.insert([SYNCED | dict(stream_name=s) for s in ("clk", "imec0")], allow_direct_insert=True)
    pulses = np.arange(1.0, 21.0)
    other.DatasetEvents.Digital.insert([
        SYNCED | dict(stream_name="clk", event_name="0", event_timestamps=pulses, event_values=np.ones(20)),
        SYNCED | dict(stream_name="imec0", event_name="6", event_timestamps=imec_samples(pulses),
                      event_values=np.ones(20)),
        SYNCED | dict(stream_name="imec0", event_name="2", event_timestamps=imec_samples(EVENT_SECONDS),
                      event_values=None),
    ], allow_direct_insert=True)
    other.StreamSync.insert1(SYNCED | dict(stream_name="imec0", event_name="6", clock_dataset="sync",
                                           clock_stream="clk", clock_stream_event="0"))


def imec_samples(seconds: np.ndarray) -> np.ndarray:
    return np.round(OFFSET + seconds * FS_TRUE).astype(np.uint64)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """The lake, the default context (no rows) and the tables of ``other`` (the rows)."""
    root = tmp_path_factory.mktemp("method_contexts")
    lake = Lake("sqlite", root / "lake")
    world = SimpleNamespace(root=root, default=Context(lake, DEFAULT_PROJECT, preferences(root, "default")))
    world.other = load_project_schema("other", context=Context(lake, DEFAULT_PROJECT, preferences(root, "other")))
    world.other.LabMember.insert1(dict(user_name="couto", date_joined="2019-09-01"))
    world.other.Species.insert1(dict(species_name="mouse", species_scientific_name="Mus musculus"))
    world.other.Strain.insert1(dict(strain_name="C57BL/6J", species_name="mouse"))
    world.other.Subject.insert1(dict(subject_name="S1", subject_dob="2023-01-01", subject_sex="M",
                                     strain_name="C57BL/6J", user_name="couto"))
    world.other.Session.insert1(dict(subject_name="S1", session_name=SESSION, session_datetime="2024-01-01 12:00:00"))
    add_recording(world)
    add_synced_session(world.other)
    (root / "notes.txt").write_text("a file of the lab")
    store(world, NOTES, root / "notes.txt")
    yield world
    lake.close()


@pytest.fixture(autouse=True)
def default_is_current(world: SimpleNamespace) -> Iterator[None]:
    """The default project is the current context: methods must not read it."""
    with use(world.default):
        yield


def local_copies(world: SimpleNamespace, name: str) -> list[str]:
    folder = world.root / name / "local"
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


# ---- ephys -------------------------------------------------------------------------------------------------

def test_band_files_and_recording_file_read_the_project_of_the_table(world) -> None:
    setting = world.other.EphysRecording.ProbeSetting & KEY
    assert not EphysRecording.ProbeFile() and len(world.other.EphysRecording.ProbeFile()) == 2
    assert sorted(f["file_path"] for f in setting.band_files("ap")) == [f"{STEM}.imec0.ap.meta",
                                                                         f"{STEM}.imec0.ap.zarr.zip"]
    assert setting.band_files("lf") == []
    assert setting.recording_file("ap") == {"file_path": f"{STEM}.imec0.ap.zarr.zip", "storage": "data"}


def test_open_reads_the_project_storage_then_its_local_copy(world) -> None:
    setting = world.other.EphysRecording.ProbeSetting & KEY
    raw = np.fromfile(world.ap, dtype="<i2").reshape(-1, 385)
    streamed = setting.open("ap")  # no local copy: read from other's storage
    assert local_copies(world, "other") == [] and np.array_equal(streamed[100:200, [0, 384]], raw[100:200][:, [0, 384]])
    assert np.array_equal(setting.get_samples(10, 20, channels=[3]), raw[10:20, [3]])
    times, window = setting.get_window(0.1, 0.01, channels=[0, 1])
    assert window.shape == (300, 2) and times[0] == pytest.approx(0.1)
    downloaded = setting.open("ap", download=True)
    assert local_copies(world, "other") == [f"{STEM}.imec0.ap.zarr.zip"] and local_copies(world, "default") == []
    assert np.array_equal(downloaded[:], raw)


def test_noise_stats_make_reads_the_probe_of_its_project(world) -> None:
    noise = world.other.EphysRecordingNoiseStats()
    with making(EphysRecordingNoiseStats):  # as populate runs make, but with the default context current
        noise.make(KEY | dict(probe_num=0))
    assert noise.fetch1("channel_mad").shape == (384, 2) and not EphysRecordingNoiseStats()


def test_add_nidq_events_reads_and_writes_the_project_of_the_table(world) -> None:
    (world.other.EphysRecording & KEY).add_nidq_events()
    lines = (world.other.DatasetEvents.Digital & KEY & {"stream_name": "nidq"}).fetch("event_name")
    nidq = world.root / "source" / "demo_g0_t0.nidq"
    expected = stream_events_of(read_meta(f"{nidq}.meta"), Path(f"{nidq}.bin")).edges
    assert sorted(lines) == sorted(map(str, expected)) != [] and not DatasetEvents()


def test_add_spikeglx_recording_rebuilds_the_probe_rows_in_the_project_of_the_table(world) -> None:
    recordings = world.other.EphysRecording
    recordings.insert1(REBUILT | dict(n_probes=1, recording_duration=0.5, recording_software="spikeglx"),
                       allow_direct_insert=True)
    (recordings & REBUILT).add_spikeglx_recording()
    setting = recordings.ProbeSetting & REBUILT
    assert sorted(f["file_path"] for f in setting.band_files()) == [f"{STEM}.imec0.ap.meta",
                                                                    f"{STEM}.imec0.ap.zarr.zip"]
    assert len(world.other.ProbeConfiguration()) == 1 and not EphysRecording.ProbeSetting()


def test_add_from_spikeglx_metadata_reuses_the_configuration_of_the_project(world) -> None:
    keys = world.other.ProbeConfiguration.add_from_spikeglx_metadata(world.meta)
    assert keys["configuration_id"] == 1 and keys["probe_id"] == "18194809999"
    assert len(world.other.ProbeConfiguration()) == 1 and not ProbeConfiguration()


# ---- sync ----------------------------------------------------------------------------------------------------

def test_stream_sync_reads_the_pulses_of_its_project(world) -> None:
    sync = world.other.StreamSync & SYNCED
    stream, clock = sync.get_interp_data()
    assert len(stream) == len(clock) == 20 and sync.clock_stream() == "clk"
    seconds = sync.apply(imec_samples(EVENT_SECONDS))
    assert np.allclose(seconds, EVENT_SECONDS, atol=1 / 30000) and not StreamSync()


def test_fetch_synced_and_plot_synced_read_the_stream_sync_of_their_project(world) -> None:
    events = world.other.DatasetEvents.Digital & SYNCED
    synced = {(e["stream_name"], e["event_name"]): e["event_timestamps"] for e in events.fetch_synced()}
    assert sorted(synced) == [("clk", "0"), ("imec0", "2"), ("imec0", "6")]
    assert np.allclose(synced["imec0", "2"], EVENT_SECONDS, atol=1 / 30000)
    axes = events.plot_synced()
    assert [t.get_text() for t in axes.get_yticklabels()] == ["imec0_2", "imec0_6", "clk_0"]


# ---- files ---------------------------------------------------------------------------------------------------

def test_file_methods_use_the_preferences_of_their_project(world) -> None:
    notes = world.other.File & {"file_path": NOTES}
    assert notes.check_if_files_local() == ([], [NOTES]) and notes.check_if_files_archived() is False
    path = notes.get(progress=False)[0]
    assert path == world.root / "other" / "local" / NOTES and path.read_text() == "a file of the lab"
    assert notes.check_if_files_local() == ([path], [])
    notes.delete()
    assert not notes and not (world.root / "other" / "data" / NOTES).exists()


def test_analysis_files_go_to_the_project_folder_of_the_project_storage(world) -> None:
    result = world.root / "spikes.npy"
    np.save(result, np.arange(5))
    analysis = world.other.AnalysisFile
    assert analysis.generate_filepaths([result], KEY) == [f"other/S1/{SESSION}/ephys/spikes.npy"]
    rows = analysis.upload_files([result], KEY, progress=False)
    stored = world.root / "other" / "analysis" / rows[0]["file_path"]
    assert stored.is_file() and not any((world.root / "default" / "analysis").iterdir())
    assert np.array_equal(np.load((analysis & rows).get(progress=False)[0]), np.arange(5))
    (analysis & rows).delete()
    assert not (analysis & rows) and not stored.exists()
