"""Lake recordings and sortings open as SpikeInterface objects, and SpikeInterface sortings come back.

One lake (a copy of the test project's template) holds a 0.5 s synthetic NP1.0 recording
(:mod:`labdata.converters.spikeglx.synthetic`), compressed to ``.zarr.zip`` as the upload
rule does and registered with :func:`register_spikeglx`. The recording is opened with
``(EphysRecording.ProbeSetting & key).to_spikeinterface()`` and compared with the raw
``.bin``; SpikeInterface's own tools (noise levels, a sorting analyzer, a binary copy
written by two spawned worker processes) run on it. A ground-truth sorting from
``generate_ground_truth_recording`` goes in with ``SpikeSorting.add_from_spikeinterface``
and comes back out with ``(SpikeSorting & key).to_spikeinterface()``; bad sortings and keys
are refused with nothing registered.
"""

from __future__ import annotations

import datetime as dt
import io
import pickle
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import spikeinterface.core as si
from spikeinterface.core import BaseRecording, BaseSorting, BaseSortingSegment, NumpySorting

from labdata.catalog import Context, Lake, use
from labdata.converters.spikeglx.compression import compress_bin
from labdata.converters.spikeglx.meta import read_meta
from labdata.converters.spikeglx.synthetic import write_recording
from labdata.converters.spikeinterface import ArrayRecording, ZarrZipRecording
from labdata.core.config import Preferences
from labdata.core.errors import DataError, DuplicateError, LabdataError, QueryError
from labdata.schema import (
    Dataset,
    EphysRecording,
    File,
    ProbeConfiguration,
    Session,
    SpikeSorting,
    SpikeSortingParams,
    Subject,
)
from labdata.schema.ephys_methods import ProbeStream, register_spikeglx
from labdata.stores import md5_of, open_store
from templates import copy_sqlite_lake, mark_ensured

SESSION = "20240101_120000"
KEY = dict(subject_name="S1", session_name=SESSION, dataset_name="ephys", probe_num=0)
STEM = f"S1/{SESSION}/ephys/demo_g0/demo_g0_t0"
RATE = 30000.0
N_SAVED = 385


class CountingFile(io.RawIOBase):
    """A local file that counts the bytes read from it (to show that a window reads a few chunks)."""

    def __init__(self, path: Path) -> None:
        self._file, self.bytes_read = open(path, "rb"), 0  # noqa: SIM115 - closed with the reader

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def readinto(self, buffer) -> int:  # noqa: ANN001 - io's signature
        count = self._file.readinto(buffer)
        self.bytes_read += count or 0
        return count


def preferences(root: Path) -> Preferences:
    prefs = Preferences({}, path=root / "prefs.json", labdata_path=root / "labdata", environ={})
    prefs.set("local_paths", [str(root / "local")])
    (root / "data").mkdir()
    prefs.set("storage.data", {"protocol": "local", "folder": str(root / "data")})
    return prefs


def add_recording(root: Path) -> Path:
    """A 0.5 s synthetic NP1.0 recording, compressed, stored in ``data`` and registered; returns the raw .bin."""
    source = root / "source"
    write_recording(source, duration=0.5, seed=3, with_nidq=False)
    meta = read_meta(source / "demo_g0_t0.imec0.ap.meta")
    compress_bin(source / "demo_g0_t0.imec0.ap.bin", meta)
    dataset = {k: KEY[k] for k in ("subject_name", "session_name", "dataset_name")}
    Subject.insert1(dict(subject_name="S1", subject_dob="2023-01-01", subject_sex="M", strain_name="C57BL/6J",
                         user_name="couto"))
    Session.insert1(dict(subject_name="S1", session_name=SESSION, session_datetime="2024-01-01 12:00:00"))
    Dataset.insert1(dataset)
    paths = []
    for name in ("imec0.ap.zarr.zip", "imec0.ap.meta"):
        target = root / "data" / f"{STEM}.{name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / f"demo_g0_t0.{name}", target)
        paths.append(f"{STEM}.{name}")
        File.insert1(dict(file_path=paths[-1], storage="data", file_datetime=dt.datetime(2024, 1, 1, 12),
                          file_size=float(target.stat().st_size), file_md5=md5_of(target)))
    Dataset.DataFiles.insert([dict(dataset, file_path=p, storage="data") for p in paths])
    register_spikeglx(dataset, [ProbeStream(meta, paths, "data")], {})
    return source / "demo_g0_t0.imec0.ap.bin"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    root = tmp_path_factory.mktemp("spikeinterface_interop")
    copy_sqlite_lake(root / "lake", "test_project", people=True)
    lake = mark_ensured(Lake("sqlite", root / "lake"), "test_project")
    context = Context(lake, "test_project", preferences(root))
    with use(context):
        binary = add_recording(root)
        world = SimpleNamespace(root=root, context=context, raw=np.fromfile(binary, "<i2").reshape(-1, N_SAVED),
                                configuration=ProbeConfiguration.fetch1())
        world.recording = (EphysRecording.ProbeSetting & KEY).to_spikeinterface()
    yield world
    lake.close()


@pytest.fixture(autouse=True)
def current(world: SimpleNamespace) -> Iterator[None]:
    with use(world.context):
        yield


def counts() -> tuple[int, int, int]:
    return len(SpikeSortingParams()), len(SpikeSorting()), len(SpikeSorting.Unit())


# ---- recordings ------------------------------------------------------------------------------------------------

def test_traces_are_the_raw_samples_bit_exact_and_scale_to_microvolts_with_the_gain(world) -> None:
    recording, columns = world.recording, np.asarray(world.configuration["channel_idx"])
    assert isinstance(recording, BaseRecording) and recording.get_dtype() == np.int16
    assert recording.get_num_samples() == world.raw.shape[0] and recording.get_sampling_frequency() == RATE
    assert list(recording.channel_ids) == columns.tolist() and len(columns) == 384  # the sync channel is left out
    window = recording.get_traces(start_frame=2345, end_frame=13456)  # crosses chunk boundaries (3000 samples)
    assert np.array_equal(window, world.raw[2345:13456][:, columns])
    some = recording.get_traces(start_frame=0, end_frame=500, channel_ids=[383, 7, 8])
    assert np.array_equal(some, world.raw[:500][:, [383, 7, 8]])
    gain = float(world.configuration["probe_gain"])
    assert np.allclose(recording.get_channel_gains(), gain)
    assert gain == pytest.approx(1.2e6 / 1024 / 500)  # uV range / levels / gain of the synthetic probe
    microvolts = recording.get_traces(start_frame=100, end_frame=200, return_in_uV=True)
    assert np.allclose(microvolts, world.raw[100:200][:, columns] * np.float32(gain), rtol=1e-6)


def test_a_window_reads_only_the_chunks_it_covers(world) -> None:
    path = world.root / "data" / f"{STEM}.imec0.ap.zarr.zip"
    counting = CountingFile(path)
    recording = ZarrZipRecording(counting)
    opened = counting.bytes_read
    assert np.array_equal(recording.get_traces(start_frame=3000, end_frame=3100), world.raw[3000:3100])
    assert counting.bytes_read - opened < 0.3 * path.stat().st_size  # one chunk of the five, not all of them


def test_the_probe_is_the_probe_configuration_with_neuropixels_contacts(world) -> None:
    probe = world.recording.get_probe()
    coords = np.asarray(world.configuration["channel_coords"])
    assert np.array_equal(probe.contact_positions, coords)
    assert np.array_equal(world.recording.get_channel_locations(), coords)
    assert probe.model_name == "PRB_1_4_0480_1" and set(probe.contact_shapes) == {"square"}  # imDatPrb_pn
    assert {p["width"] for p in probe.contact_shape_params} == {12.0}
    assert list(probe.contact_ids[:3]) == ["e0", "e1", "e2"] and probe.probe_planar_contour is not None
    assert np.array_equal(probe.device_channel_indices, np.arange(384))


def test_spikeinterface_tools_run_on_the_lake_recording(world) -> None:
    columns = np.asarray(world.configuration["channel_idx"])
    noise = si.get_noise_levels(world.recording, return_in_uV=False, method="std",
                                random_slices_kwargs=dict(num_chunks_per_segment=3, chunk_size=5000, seed=0))
    expected = world.raw[:, columns].std(axis=0)
    assert noise.shape == (384,) and np.allclose(noise, expected, rtol=0.15)
    window = world.recording.frame_slice(0, 12000)
    spikes = {0: np.arange(100, 11000, 700), 1: np.arange(450, 11000, 900)}
    analyzer = si.create_sorting_analyzer(NumpySorting.from_unit_dict([spikes], RATE), window, sparse=False,
                                          return_in_uV=False)
    analyzer.compute({"random_spikes": dict(method="all"), "waveforms": dict(ms_before=1.0, ms_after=1.0),
                      "templates": {}})
    templates = analyzer.get_extension("templates").get_data()
    before = 30
    expected = np.mean([world.raw[t - before:t + 30][:, columns] for t in spikes[1]], axis=0)
    assert templates.shape == (2, 60, 384) and np.allclose(templates[1], expected, atol=1e-3)


def test_the_recording_pickles_dumps_to_json_and_runs_in_spawned_workers(world, tmp_path) -> None:
    reloaded = pickle.loads(pickle.dumps(world.recording))
    assert np.array_equal(reloaded.get_traces(start_frame=0, end_frame=50), world.recording.get_traces(0, 0, 50))
    assert np.array_equal(reloaded.get_probe().contact_positions, world.recording.get_probe().contact_positions)
    assert np.array_equal(reloaded.get_channel_gains(), world.recording.get_channel_gains())
    world.recording.dump_to_json(tmp_path / "recording.json")
    loaded = si.load(tmp_path / "recording.json")
    assert np.array_equal(loaded.get_traces(start_frame=14000, end_frame=15000),
                          world.raw[14000:15000][:, world.recording.channel_ids])
    copy = world.recording.save(format="binary", folder=tmp_path / "copy", n_jobs=2, chunk_duration="0.25s",
                                mp_context="spawn", progress_bar=False)
    assert np.array_equal(copy.get_traces(), world.raw[:, world.recording.channel_ids])


def test_a_recording_read_from_s3_pickles_for_workers(world, s3_server, bucket) -> None:
    prefs = Preferences({}, path=world.root / "s3.json", labdata_path=world.root / "labdata", environ={})
    prefs.set("storage.s3", {"protocol": "s3", "endpoint": s3_server.endpoint, "bucket": bucket, "folder": "raw",
                             "access_key": "test", "secret_key": "test"})
    store = open_store(prefs, "s3")
    store.put(world.root / "data" / f"{STEM}.imec0.ap.zarr.zip", f"{STEM}.imec0.ap.zarr.zip")
    recording = ZarrZipRecording(store.open(f"{STEM}.imec0.ap.zarr.zip"), channel_columns=[0, 200])
    assert recording.check_serializability("pickle") and not recording.check_serializability("json")
    copy = pickle.loads(pickle.dumps(recording))  # s3fs's file pickles as its filesystem and key
    assert np.array_equal(copy.get_traces(start_frame=9000, end_frame=9500), world.raw[9000:9500][:, [0, 200]])


def test_an_array_recording_over_the_lake_reader_pickles(world) -> None:
    reader = (EphysRecording.ProbeSetting & KEY).open()  # a RawRecording over the storage's open file
    recording = ArrayRecording(reader, reader.sampling_rate, channel_columns=[3, 384])
    copy = pickle.loads(pickle.dumps(recording))  # the reader pickles as its file's path and reopens
    assert np.array_equal(copy.get_traces(start_frame=7000, end_frame=7100), world.raw[7000:7100][:, [3, 384]])


def test_the_recording_needs_one_probe(world) -> None:
    with pytest.raises(QueryError, match="selects no probe") as error:
        (EphysRecording.ProbeSetting & dict(KEY, probe_num=3)).to_spikeinterface()
    assert error.value.hint


# ---- sortings ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ground_truth(world) -> SimpleNamespace:
    recording, sorting = si.generate_ground_truth_recording(durations=[0.5], sampling_frequency=RATE,
                                                            num_channels=8, num_units=5, seed=7)
    with use(world.context):
        analyzer = si.create_sorting_analyzer(sorting, recording, sparse=False)
        analyzer.compute(["random_spikes", "templates", "spike_amplitudes", "spike_locations"])
    return SimpleNamespace(recording=recording, sorting=sorting, analyzer=analyzer)


def test_a_ground_truth_sorting_round_trips_through_the_lake(world, ground_truth) -> None:
    before = counts()
    key = SpikeSorting.add_from_spikeinterface(ground_truth.sorting, KEY, algorithm_name="si_ground_truth",
                                               parameters={"seed": np.int64(7)}, analyzer=ground_truth.analyzer)
    assert counts() == (before[0] + 1, before[1] + 1, before[2] + 5)
    row = (SpikeSorting & key).fetch1()
    assert row["n_sorted_units"] == 5 and row["n_detected_spikes"] == ground_truth.sorting.count_total_num_spikes()
    assert np.array_equal(row["sorting_channel_indices"], np.arange(8))
    assert np.allclose(row["sorting_channel_coords"], ground_truth.recording.get_channel_locations())
    assert (SpikeSortingParams & key).fetch1("parameters_dict") == '{"seed": 7}'
    back = (SpikeSorting & key).to_spikeinterface()
    assert isinstance(back, BaseSorting) and back.get_sampling_frequency() == RATE
    assert list(back.unit_ids) == [int(u) for u in ground_truth.sorting.unit_ids]
    for unit in ground_truth.sorting.unit_ids:
        assert np.array_equal(back.get_unit_spike_train(int(unit)), ground_truth.sorting.get_unit_spike_train(unit))
    amplitudes = ground_truth.analyzer.get_extension("spike_amplitudes").get_data(outputs="by_unit",
                                                                                   concatenated=True)
    first = ground_truth.sorting.unit_ids[0]
    stored = (SpikeSorting.Unit & key & dict(unit_id=int(first))).fetch1()
    assert stored["spike_times"].dtype == np.uint64 and np.array_equal(stored["spike_amplitudes"], amplitudes[first])
    assert stored["spike_positions"].shape == (len(stored["spike_times"]), 2)
    assert back.get_property("amplitude")[0] == pytest.approx(np.median(amplitudes[first]))


def test_parameter_sets_are_found_by_algorithm_and_parameters(world, ground_truth) -> None:
    first = SpikeSorting.add_from_spikeinterface(ground_truth.sorting, KEY, algorithm_name="si_params_test",
                                                 parameters={"a": 1, "b": [1, 2]})
    second = SpikeSorting.add_from_spikeinterface(ground_truth.sorting, KEY, algorithm_name="si_params_test",
                                                  parameters={"a": 2, "b": [1, 2]})
    assert second["parameter_set_num"] == max(SpikeSortingParams.fetch("parameter_set_num"))
    assert second["parameter_set_num"] > first["parameter_set_num"]
    before = counts()
    with pytest.raises(DuplicateError) as error:  # the same set (keys in another order): found, and sorted already
        SpikeSorting.add_from_spikeinterface(ground_truth.sorting, KEY, algorithm_name="si_params_test",
                                             parameters={"b": [1, 2], "a": 1})
    assert error.value.hint and counts() == before


class FloatSorting(BaseSorting):
    """A sorting whose spike trains are seconds (floats), as some third-party sortings give them."""

    def __init__(self) -> None:
        BaseSorting.__init__(self, RATE, [0, 1])
        self.add_sorting_segment(FloatSortingSegment())


class FloatSortingSegment(BaseSortingSegment):
    def get_unit_spike_train(self, unit_id, start_frame=None, end_frame=None) -> np.ndarray:  # noqa: ANN001
        return np.array([0.01, 0.5]) + unit_id


def bad_inputs() -> list[tuple[str, object, dict, type[LabdataError]]]:
    good = {0: np.array([10, 20]), 1: np.array([30])}
    return [
        ("unknown probe", NumpySorting.from_unit_dict([good], RATE), dict(KEY, probe_num=5), QueryError),
        ("key without probe_num", NumpySorting.from_unit_dict([good], RATE),
         {k: v for k, v in KEY.items() if k != "probe_num"}, QueryError),
        ("negative times", NumpySorting.from_unit_dict([{0: np.array([-5, 10])}], RATE), KEY, DataError),
        ("float times", FloatSorting(), KEY, DataError),
        ("another clock", NumpySorting.from_unit_dict([good], 25000.0), KEY, DataError),
        ("unit names", NumpySorting.from_unit_dict([{"a": np.array([1]), "b": np.array([2])}], RATE), KEY,
         DataError),
        ("two segments", NumpySorting.from_unit_dict([good, good], RATE), KEY, DataError),
        # refused by the Unit insert, after the parameter set and the sorting were inserted in the transaction
        ("unit id past int", NumpySorting.from_unit_dict([{0: np.array([1]), 2**40: np.array([2])}], RATE), KEY,
         DataError),
    ]


@pytest.mark.parametrize(("case", "sorting", "key", "error"), bad_inputs(), ids=[c[0] for c in bad_inputs()])
def test_bad_sortings_and_keys_are_refused_with_nothing_registered(world, case, sorting, key, error) -> None:
    before = counts()
    with pytest.raises(error) as raised:
        SpikeSorting.add_from_spikeinterface(sorting, key, algorithm_name=f"si_bad_{case.replace(' ', '_')}")
    assert raised.value.hint and counts() == before


def test_a_sorting_without_sorter_information_needs_an_algorithm_name(world) -> None:
    sorting = NumpySorting.from_unit_dict([{0: np.array([10, 20])}], RATE)
    before = counts()
    with pytest.raises(DataError, match="which sorter") as error:
        SpikeSorting.add_from_spikeinterface(sorting, KEY)
    assert "algorithm_name" in error.value.hint and counts() == before


def test_a_run_sorter_sorting_names_its_sorter_and_parameters(world) -> None:
    sorting = NumpySorting.from_unit_dict([{3: np.array([10, 20])}], RATE)
    sorting.set_sorting_info(recording_dict={}, params_dict={"detect_threshold": 5.5},
                             log_dict={"sorter_name": "mountainsort5", "sorter_version": "0.5.6",
                                       "datetime": "2025-02-03T04:05:06.789"})
    key = SpikeSorting.add_from_spikeinterface(sorting, KEY)
    assert (SpikeSortingParams & key).fetch1("algorithm_name", "parameters_dict") == (
        "si_mountainsort5", '{"detect_threshold": 5.5}')
    assert (SpikeSorting & key).fetch1("algorithm_version") == "0.5.6"
    assert (SpikeSorting & key).fetch1("sorting_datetime") == dt.datetime(2025, 2, 3, 4, 5, 6)
    assert (SpikeSorting & key).to_spikeinterface().get_unit_spike_train(3).tolist() == [10, 20]
