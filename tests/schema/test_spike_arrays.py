"""Spike arrays of sortings: one Zarr group per sorting, read back bit-exact from a folder or S3.

Units of several sessions, subjects and probes go in with one ``SpikeSorting.Unit.insert`` (the
DataJoint way) and come back, bit-exact, through ``fetch``, ``get_spike_times`` (eager and lazy)
from the lake folder and from a storage on a moto S3 server; ``synced=True`` maps the times of a
probe whose clock runs 20 ppm fast onto the NI-DAQ clock to within one sample; a SIGKILL at any
point of an insert leaves all of a sorting's rows or none, and a re-run completes.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from labdata.catalog import Context, Lake, use
from labdata.catalog.ops.array_groups import ArrayRef
from labdata.core.config import Preferences
from labdata.schema import (
    AnalysisFile,
    Dataset,
    DatasetEvents,
    EphysRecording,
    LabMember,
    Probe,
    ProbeConfiguration,
    Session,
    Species,
    SpikeSorting,
    SpikeSortingParams,
    Strain,
    StreamSync,
    Subject,
)

RATE = 30000.0
SESSIONS = [("S1", "20240101_100000"), ("S1", "20240102_100000"), ("S2", "20240103_100000")]
FAULTS = Path(__file__).parents[1] / "upload" / "faults.py"


def fill_parents(probes: int = 2) -> list[dict]:
    """Subjects, sessions, an ephys dataset each, ``probes`` probe settings each, and their sortings."""
    LabMember.insert1(dict(user_name="couto", date_joined="2019-09-01"))
    Species.insert1(dict(species_name="mouse", species_scientific_name="Mus musculus"))
    Strain.insert1(dict(strain_name="C57BL/6J", species_name="mouse"))
    Subject.insert([dict(subject_name=s, subject_dob="2023-06-01", subject_sex="M", strain_name="C57BL/6J",
                         user_name="couto") for s in ("S1", "S2")])
    Session.insert([dict(subject_name=s, session_name=n, session_datetime=dt.datetime(2024, 1, 1),
                         experimenter="couto") for s, n in SESSIONS])
    keys = [dict(subject_name=s, session_name=n, dataset_name="ephys") for s, n in SESSIONS]
    Dataset.insert([k | dict(dataset_type="ephys") for k in keys])
    Probe.insert1(dict(probe_id="p1", probe_type="0", probe_n_shanks=1, probe_recording_channels=384))
    ProbeConfiguration.insert1(dict(probe_id="p1", configuration_id=1, probe_n_channels=384, probe_gain=2.34375,
                                    channel_idx=np.arange(384), channel_shank=np.zeros(384, int),
                                    channel_coords=np.zeros((384, 2))))
    EphysRecording.insert([k | dict(n_probes=probes, recording_duration=600.0, recording_software="spikeglx")
                           for k in keys], allow_direct_insert=True)
    EphysRecording.ProbeSetting.insert([k | dict(probe_num=p, probe_id="p1", configuration_id=1,
                                                 sampling_rate=RATE) for k in keys for p in range(probes)],
                                       allow_direct_insert=True)
    SpikeSortingParams.insert1(dict(parameter_set_num=1, algorithm_name="spks_kilosort4.0", parameters_dict="{}"))
    sortings = [k | dict(probe_num=p, parameter_set_num=1) for k in keys for p in range(probes)]
    SpikeSorting.insert(sortings)
    return sortings


def unit_rows(sortings: list[dict], seed: int = 0, units: int = 7) -> list[dict]:
    """Units with spike arrays (uneven sizes, one empty, in shuffled order) for every sorting."""
    rng = np.random.default_rng(seed)
    rows = []
    for sorting in sortings:
        for unit in rng.permutation(units):
            n = 0 if unit == 3 else int(rng.integers(1, 5000))
            times = np.sort(rng.integers(0, int(600 * RATE), n)).astype(np.uint64)
            rows.append(sorting | dict(unit_id=int(unit), spike_times=times,
                                       spike_amplitudes=rng.normal(100, 20, n).astype(np.float32),
                                       spike_positions=rng.normal(0, 30, (n, 2)).astype(np.float32)))
    return rows


def _key(row: dict) -> tuple:
    return tuple(row[k] for k in ("subject_name", "session_name", "dataset_name", "probe_num", "unit_id"))


def assert_same_units(fetched: list[dict], inserted: list[dict], columns=("spike_times",)) -> None:
    expected = {_key(r): r for r in inserted}
    assert sorted(_key(r) for r in fetched) == sorted(expected)
    for row in fetched:
        for column in columns:
            want, got = expected[_key(row)][column], np.asarray(row[column])
            assert got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want), column


def local_prefs(root: Path) -> Preferences:
    prefs = Preferences({}, path=root / "prefs.json", labdata_path=root / "labdata", environ={})
    prefs.set("local_paths", [str(root / "local")])
    return prefs


@pytest.fixture
def lake_context(tmp_path: Path):
    lake = Lake("sqlite", tmp_path / "lake")
    context = Context(lake, "mice", local_prefs(tmp_path))
    with use(context):
        yield context
    lake.close()


def test_units_of_many_sessions_come_back_bit_exact_from_the_lake_folder(lake_context) -> None:
    sortings = fill_parents()
    rows = unit_rows(sortings)
    assert SpikeSorting.Unit.insert(rows) == len(rows)
    every = ("spike_times", "spike_amplitudes", "spike_positions")
    assert_same_units((SpikeSorting.Unit & sortings).fetch(as_dict=True), rows, every)
    subset = [{k: r[k] for k in (*sortings[0], "unit_id")} for r in rows[::5]]
    times = (SpikeSorting.Unit & subset).fetch("spike_times", order_by="KEY")
    assert len(times) == len(subset)
    samples = (SpikeSorting.Unit & {"subject_name": "S1"}).get_spike_times(return_seconds=False)
    assert_same_units(samples, [r for r in rows if r["subject_name"] == "S1"])
    seconds = SpikeSorting.Unit().get_spike_times()
    expected = {_key(r): r["spike_times"] / RATE for r in rows}
    assert all(np.array_equal(s["spike_times"], expected[_key(s)]) for s in seconds)
    lazy = SpikeSorting.Unit().get_spike_times(lazy=True, return_seconds=False)
    assert "not read" in repr(lazy[0]["spike_times"])
    assert_same_units([dict(r, spike_times=np.asarray(r["spike_times"])) for r in lazy], rows)


def test_a_sorting_is_one_group_sorted_by_unit(lake_context) -> None:
    sortings = fill_parents(probes=1)
    rows = unit_rows(sortings[:1])
    SpikeSorting.Unit.insert(rows)
    refs = [ArrayRef.decode(bytes(v)) for v in (SpikeSorting.Unit & sortings[0]).to_arrow(
        "unit_id", "spike_times").sort_by("unit_id").column("spike_times").to_pylist()]
    assert len({r.store for r in refs}) == 1 and refs[0].store.endswith("/spike_times")
    assert [r.offset for r in refs] == list(np.cumsum([0] + [r.count for r in refs])[:-1]), "units in id order"
    assert all(r.delta for r in refs)
    import zarr

    group = zarr.open_group(str(lake_context.lake.root / refs[0].store.rsplit("/", 1)[0]), mode="r")
    assert json.loads(json.dumps(group.attrs["columns"]))["spike_times"]["differenced"] is True
    assert group["spike_amplitudes"].shape == (sum(r.count for r in refs),)


def test_refused_arrays_leave_no_rows(lake_context) -> None:
    sortings = fill_parents(probes=1)
    rows = unit_rows(sortings[:1])
    rows[2]["spike_times"] = rows[2]["spike_times"].astype(np.float64) + 0.5
    with pytest.raises(Exception, match="integer"):
        SpikeSorting.Unit.insert(rows)
    assert len(SpikeSorting.Unit()) == 0


def test_units_come_back_bit_exact_from_s3(tmp_path: Path, s3_server, bucket: str) -> None:
    prefs = local_prefs(tmp_path)
    prefs.set("storage.analysis", {"protocol": "s3", "endpoint": s3_server.endpoint, "bucket": bucket,
                                   "folder": "lab", "access_key": "test", "secret_key": "test"})
    prefs.set("catalog.arrays_storage", "analysis")
    lake = Lake("sqlite", tmp_path / "lake")
    with use(Context(lake, "mice", prefs)):
        sortings = fill_parents()
        rows = unit_rows(sortings, seed=3)
        SpikeSorting.Unit.insert(rows)
        files = AnalysisFile.fetch(as_dict=True)
        assert len(files) == len(sortings) and all(f["storage"] == "analysis" for f in files)
        assert all(f["file_path"].startswith("mice/S") and f["file_path"].endswith(".zarr") for f in files)
        objects = s3_server.client().list_objects_v2(Bucket=bucket, Prefix="lab/mice/")["Contents"]
        assert sum(o["Size"] for o in objects) == sum(f["file_size"] for f in files)
        assert not any((tmp_path / "lake" / "catalog" / "arrays").glob("**/*")), "nothing in the lake folder"
        every = ("spike_times", "spike_amplitudes", "spike_positions")
        assert_same_units(SpikeSorting.Unit().fetch(as_dict=True), rows, every)
        assert_same_units(SpikeSorting.Unit().get_spike_times(return_seconds=False), rows)
    lake.close()


def test_synced_times_recover_a_20_ppm_drift_within_one_sample(lake_context) -> None:
    sortings = fill_parents(probes=1)
    key = {k: sortings[0][k] for k in ("subject_name", "session_name", "dataset_name")}
    fast, offset = RATE * (1 + 20e-6), 4321.0          # imec samples per NI-DAQ second, imec sample at 0 s
    pulses = np.arange(1.0, 600.0)                      # a 1 Hz sync pulse, in NI-DAQ seconds
    DatasetEvents.insert([key | dict(stream_name=s) for s in ("imec0", "nidq")], allow_direct_insert=True)
    DatasetEvents.Digital.insert([
        key | dict(stream_name="imec0", event_name="6", event_timestamps=np.round(offset + pulses * fast),
                   event_values=np.ones(pulses.size, np.int8)),
        key | dict(stream_name="nidq", event_name="0", event_timestamps=pulses,
                   event_values=np.ones(pulses.size, np.int8))], allow_direct_insert=True)
    StreamSync.insert1(key | dict(stream_name="imec0", event_name="6", clock_dataset="ephys",
                                  clock_stream="nidq", clock_stream_event="0"))
    truth = np.sort(np.random.default_rng(1).uniform(2, 590, 3000))      # spikes, in NI-DAQ seconds
    samples = np.round(offset + truth * fast).astype(np.uint64)
    SpikeSorting.Unit.insert1(sortings[0] | dict(unit_id=0, spike_times=samples))
    unit = (SpikeSorting.Unit & sortings[0]).get_spike_times(synced=True)[0]
    assert np.max(np.abs(unit["spike_times"] - truth)) < 1 / RATE
    naive = (SpikeSorting.Unit & sortings[0]).get_spike_times()[0]["spike_times"]
    assert np.max(np.abs(naive - truth)) > 100 / RATE, "unsynced times are off by the offset and drift"
    SpikeSorting.Unit.insert1(sortings[1] | dict(unit_id=0, spike_times=np.arange(5, dtype=np.uint64)))
    with pytest.warns(UserWarning, match="not synced"):
        fallback = (SpikeSorting.Unit & sortings[1]).get_spike_times(synced=True)[0]["spike_times"]
    assert np.array_equal(fallback, np.arange(5) / RATE)


INSERT_CODE = """
import os, numpy as np
from labdata.catalog import Context, Lake, use
from labdata.schema import SpikeSorting
rows = list(np.load(os.environ["ROWS"], allow_pickle=True))
with use(Context(Lake("sqlite", os.environ["LAKE"]), "mice")):
    SpikeSorting.Unit.insert(rows, skip_duplicates=True)
"""


def _run_insert(lake: Path, rows: Path, kill_at: int) -> subprocess.CompletedProcess:
    env = {"LAKE": str(lake), "ROWS": str(rows), "LABDATA_KILL_AT": str(kill_at), "PATH": "/usr/bin:/bin",
           "LABDATA_KILL_COUNT": str(rows.with_suffix(".count")), "HOME": str(lake.parent)}
    return subprocess.run([sys.executable, str(FAULTS), "-c", INSERT_CODE], env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.slow
def test_a_killed_insert_leaves_a_sorting_whole_or_absent(tmp_path: Path) -> None:
    import shutil

    built = tmp_path / "built"
    lake = Lake("sqlite", built / "lake")
    with use(Context(lake, "mice", local_prefs(built))):
        sortings = fill_parents(probes=1)
    lake.close()
    rows = unit_rows(sortings, seed=5)
    saved = tmp_path / "rows.npy"
    np.save(saved, np.array(rows, dtype=object), allow_pickle=True)
    shutil.copytree(built, tmp_path / "counted")
    assert _run_insert(tmp_path / "counted" / "lake", saved, 0).returncode == 0
    crossings = int(saved.with_suffix(".count").read_text())
    assert crossings >= 4
    for point in sorted({1, 2, crossings // 2, crossings - 1, crossings}):  # mid-write, before and after commit
        copy = tmp_path / f"kill{point}"
        shutil.copytree(built, copy)
        assert _run_insert(copy / "lake", saved, point).returncode == -9
        with use(Context(Lake("sqlite", copy / "lake"), "mice", local_prefs(copy))) as context:
            counts = {len(SpikeSorting.Unit & s) for s in sortings}
            assert counts <= {0, 7} and len(counts) == 1, (point, counts)
            context.lake.close()
        assert _run_insert(copy / "lake", saved, 0).returncode == 0
        with use(Context(Lake("sqlite", copy / "lake"), "mice", local_prefs(copy))) as context:
            assert_same_units(SpikeSorting.Unit().fetch(as_dict=True), rows)
            context.lake.close()
