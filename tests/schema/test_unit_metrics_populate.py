"""UnitMetrics.populate and UnitCount on a small lake holding a real Kilosort sorting.

The lake holds bombcell's Kilosort output of a Neuropixels 1.0 recording (15 units, 94,565
spikes, 4476 s; ../shared/data/kilosort/bombcell-toy_data) registered with its real
``.ap.meta``: spike times and template amplitudes as sorted, median waveforms from the
unwhitened templates, stored on the channels where they are large (14 units; unit 9 has
none), spike positions from each template's centre plus a slow drift. Sorting 3 holds five
of those units without waveforms; sorting 2 is broken (amplitudes that do not match the
spike times), so its make fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from labdata.catalog import Context, Lake, use
from labdata.core.errors import DataError, DuplicateError, QueryError
from labdata.metrics.unit_metrics import METRIC_COLUMNS, ProbeChannels, SortingSpikes, UnitWaveforms, unit_metrics
from labdata.schema import (
    Dataset,
    EphysRecording,
    ProbeConfiguration,
    Session,
    SpikeSorting,
    SpikeSortingParams,
    Subject,
    UnitCount,
    UnitCountCriteria,
    UnitMetrics,
)
from shared_data import SHARED_DATA
from templates import copy_sqlite_lake, mark_ensured

KILOSORT = SHARED_DATA / "kilosort" / "bombcell-toy_data"
META = SHARED_DATA / "spikeglx" / "bombcell" / "toy_data.ap.meta"
DATASET = dict(subject_name="JF093", session_name="20230306_120000", dataset_name="ephys_g0")
SORTED, BROKEN, SUBSET = (dict(DATASET, probe_num=0, parameter_set_num=n) for n in (1, 2, 3))
RATE, DURATION, N_PRE, NOISE, MAD = 30000.0, 4475.95, 41, 1.5, 4.0
WAVEFORM_COLUMNS = ("depth", "position", "shank", "channel_index", "n_electrodes_spanned", "span_um",
                    "active_electrodes", "trough_time", "trough_amplitude", "fw3m", "trough_gradient",
                    "peak_gradient", "peak_time", "peak_amplitude", "spike_duration", "polarity", "spike_amplitude",
                    "snr")


def _arrays() -> SimpleNamespace:
    """The sorting's arrays, as inserted (and as the expected values are computed from)."""
    times = np.load(KILOSORT / "spike_times.npy").ravel()
    clusters = np.load(KILOSORT / "spike_clusters.npy").ravel()
    amplitudes = np.load(KILOSORT / "amplitudes.npy").ravel().astype(np.float32)
    coords = np.load(KILOSORT / "channel_positions.npy")
    unwhitening = np.load(KILOSORT / "whitening_mat_inv.npy")
    templates = np.einsum("tsc,cd->tsd", np.load(KILOSORT / "templates.npy"), unwhitening)
    medians = (templates * 60).astype(np.float32)  # µV-like scale
    ptp = medians.max(axis=1) - medians.min(axis=1)
    rng = np.random.default_rng(0)
    units = np.unique(clusters)
    positions = []
    for unit in units:
        top = np.argsort(ptp[unit])[-8:]
        centre = ptp[unit, top] @ coords[top] / ptp[unit, top].sum()
        seconds = times[clusters == unit] / RATE
        depth = centre[1] + 8 * np.sin(2 * np.pi * seconds / 3000) + rng.normal(0, 3, seconds.size)
        positions.append(np.column_stack([np.full(seconds.size, centre[0]), depth]).astype(np.float32))
    kept = [np.flatnonzero(p >= 0.05 * p.max()).astype(np.int16) for p in ptp]
    return SimpleNamespace(units=units, times=[times[clusters == u] for u in units],
                           amplitudes=[amplitudes[clusters == u] for u in units], positions=positions, coords=coords,
                           channel_map=np.load(KILOSORT / "channel_map.npy").ravel(),
                           medians=[medians[u][:, kept[u]] for u in units], kept=kept, ptp=ptp)


def _fill(arrays: SimpleNamespace) -> None:
    probe = ProbeConfiguration.add_from_spikeglx_metadata(META)
    Subject.insert1(dict(subject_name="JF093", subject_dob="2022-09-01", subject_sex="M", strain_name="C57BL/6J",
                         user_name="couto"))
    Session.insert1(dict(subject_name="JF093", session_name="20230306_120000",
                         session_datetime="2023-03-06 12:00:00"))
    Dataset.insert1(dict(DATASET, dataset_type="ephys"))
    EphysRecording.insert1(dict(DATASET, n_probes=1, recording_duration=probe["recording_duration"],
                                recording_software="spikeglx"), allow_direct_insert=True)
    EphysRecording.ProbeSetting.insert1(dict(DATASET, probe_num=0, probe_id=probe["probe_id"],
                                             configuration_id=probe["configuration_id"],
                                             sampling_rate=probe["sampling_rate"]), allow_direct_insert=True)
    SpikeSortingParams.insert([dict(parameter_set_num=n, algorithm_name="spks_kilosort2.5", parameters_dict=f"{{{n}}}")
                               for n in (1, 2, 3)])
    SpikeSorting.insert([dict(sorting, n_pre_samples=N_PRE, sorting_channel_indices=arrays.channel_map,
                              sorting_channel_coords=arrays.coords) for sorting in (SORTED, BROKEN, SUBSET)])
    units = [dict(SORTED, unit_id=int(u), spike_times=t, spike_amplitudes=a, spike_positions=p)
             for u, t, a, p in zip(arrays.units, arrays.times, arrays.amplitudes, arrays.positions, strict=True)]
    SpikeSorting.Unit.insert([*units, *(dict(u, **SUBSET) for u in units[:5]),
                              dict(units[0], **BROKEN, spike_amplitudes=arrays.amplitudes[0][:10])])
    SpikeSorting.Waveforms.insert([dict(SORTED, unit_id=int(u), waveform_median=arrays.medians[u],
                                        waveform_channels=arrays.kept[u], waveform_ptp=arrays.ptp[u],
                                        waveform_noise=NOISE) for u in arrays.units if u != 9])
    SpikeSorting.Segment.insert1(dict(SORTED, segment_num=1, offset_samples=0, segment=np.zeros((8, 356), np.int16),
                                      channel_mad=np.full(356, MAD)))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """The lake with the sortings, and what the first UnitMetrics.populate() did."""
    root = copy_sqlite_lake(tmp_path_factory.mktemp("unit_metrics") / "lake", "test_project", people=True)
    lake = mark_ensured(Lake("sqlite", root), "test_project")
    arrays = _arrays()
    with use(Context(lake, "test_project")):
        _fill(arrays)
        populated = UnitMetrics.populate(suppress_errors=True)
    yield SimpleNamespace(context=Context(lake, "test_project"), arrays=arrays, populated=populated)
    lake.close()


@pytest.fixture
def project(lab: SimpleNamespace) -> Iterator[SimpleNamespace]:
    with use(lab.context):
        yield lab


def _metrics(restriction: dict) -> pd.DataFrame:
    return pd.DataFrame((UnitMetrics & restriction).fetch(as_dict=True)).set_index("unit_id")


# ---- UnitMetrics -------------------------------------------------------------------------------------------------
def test_populate_makes_each_sorting_in_one_make_and_a_failed_one_leaves_nothing(project) -> None:
    assert project.populated["success_count"] == 2, "one make per sorting (1 and 3), not one per unit"
    assert [key for key, _ in project.populated.errors] == [BROKEN]
    assert len(UnitMetrics & SORTED) == 15 and len(UnitMetrics & SUBSET) == 5
    assert not UnitMetrics & BROKEN, "the failed sorting has no row at all"
    assert UnitMetrics.progress() == (1, 3)
    assert UnitMetrics.populate(SORTED)["success_count"] == 0, "a sorting with rows is done"


def test_populated_rows_are_the_metrics_of_the_stored_arrays(project) -> None:
    arrays = project.arrays
    spikes = SortingSpikes.from_units(arrays.times, RATE, DURATION, amplitudes=arrays.amplitudes,
                                      positions=arrays.positions)
    with_waveform = [int(u) for u in arrays.units if u != 9]
    waveforms = UnitWaveforms(with_waveform, [arrays.medians[u] for u in with_waveform],
                              [arrays.kept[u] for u in with_waveform], [arrays.ptp[u] for u in with_waveform],
                              [NOISE] * 14, N_PRE)
    channels = ProbeChannels(arrays.coords, np.zeros(356, int), np.full(356, MAD))
    expected = {row["unit_id"]: row for row in unit_metrics(spikes, arrays.units, waveforms, channels)}
    stored = {row["unit_id"]: row for row in (UnitMetrics & SORTED).fetch(as_dict=True)}
    assert sorted(stored) == sorted(expected) == list(range(15))
    for unit, row in expected.items():
        for name in METRIC_COLUMNS:
            ours, theirs = stored[unit][name], row[name]
            if theirs is None:
                assert _null(ours), (name, unit, ours)
            elif isinstance(theirs, np.ndarray):
                assert np.allclose(ours, theirs), (name, unit)
            else:  # float columns are stored as float32
                assert np.isclose(ours, theirs, rtol=1e-6, atol=1e-6), (name, unit, ours, theirs)


def _null(value: object) -> bool:
    return value is None or (np.isscalar(value) and bool(pd.isna(value)))


def test_every_column_is_filled_for_units_with_waveforms_and_spikes(project) -> None:
    stored = _metrics(SORTED)
    assert sorted(stored.columns[-len(METRIC_COLUMNS):]) == sorted(METRIC_COLUMNS) and len(METRIC_COLUMNS) == 30
    complete = stored.drop(index=9)
    n, n_v = complete.num_spikes.astype(float), complete.n_isi_violations.astype(float)
    root = 1 - n_v * (DURATION - 2 * n * 0.2e-3) / (n**2 * 1.3e-3)
    assert complete.isi_contamination.isna().tolist() == (root < 0).tolist(), "NULL only where Llobet's root fails"
    edges = np.arange(0, DURATION + 60, 60.0)
    per_minute = [np.histogram(project.arrays.times[u] / RATE, edges)[0] for u in complete.index]
    first = int(np.sum(edges[:-1] < 0.2 * DURATION))
    sparse_ends = [not (c[:first] > 5).any() or not (c[-first:] > 5).any() for c in per_minute]
    assert complete.depth_drift_start_to_end.isna().tolist() == sparse_ends, \
        "NULL only where the first or last 20 % of the recording has no minute with more than 5 spikes"
    assert any(sparse_ends) and not all(sparse_ends)
    others = complete.drop(columns=["isi_contamination", "depth_drift_start_to_end"])
    null = others.isna() | others.map(lambda v: v is None)
    assert not null.any().any(), null.sum()[null.sum() > 0]
    assert (complete.shank == 0).all(), "a Neuropixels 1.0 probe has one shank"
    assert all(len(a) == k for a, k in zip(complete.active_electrodes, complete.n_electrodes_spanned, strict=True))
    unit9 = stored.loc[9]
    assert all(unit9[c] is None or pd.isna(unit9[c]) for c in WAVEFORM_COLUMNS)
    assert unit9.num_spikes == 75 and unit9.presence_ratio > 0 and unit9.firing_range >= 0
    assert _metrics(SUBSET).spike_duration.isna().all(), "sorting 3 has no waveforms"


# ---- UnitCount ---------------------------------------------------------------------------------------------------
def _expected_passes(sua: np.ndarray, mua: np.ndarray | None) -> list[int]:
    passes = np.where(sua, 1, 0)
    if mua is not None:
        passes[~mua] = -1
    return passes.tolist()


@pytest.fixture(scope="module")
def counts(lab: SimpleNamespace) -> SimpleNamespace:
    """Criteria 1 (SQL spelling, with an MUA criteria), 2 (the seeds' pandas spelling) and a manual one, counted."""
    with use(lab.context):
        UnitCountCriteria.insert([
            dict(unit_criteria_id=1, sua_criteria="isi_contamination < 0.1 AND amplitude_cutoff < 0.1 AND "
                                                  "presence_ratio > 0.6",
                 mua_criteria="spike_duration > 0.01 AND n_electrodes_spanned < 20"),
            dict(unit_criteria_id=2, sua_criteria="isi_contamination < 0.05 & (firing_rate > 0.5 | snr > 5) & "
                                                  "abs(depth_drift_start_to_end) < 6")])
        manual = UnitCountCriteria.add_manual("manual_couto_strict")
        sources = {k["unit_criteria_id"] for k in UnitCount.key_source.fetch("KEY")}
        return SimpleNamespace(manual=manual, sources=sources, populated=UnitCount.populate())


def test_unit_count_populate_classifies_with_sql_and_pandas_spellings(project, counts) -> None:
    assert counts.sources == {1, 2}, "the manual criteria is not computed"
    assert counts.populated["success_count"] == 4, "sortings 1 and 3 (those with metrics) × criteria 1 and 2"
    metrics = _metrics(SORTED).fillna(np.nan).infer_objects()
    good = (metrics.isi_contamination < 0.1) & (metrics.amplitude_cutoff < 0.1) & (metrics.presence_ratio > 0.6)
    noise_free = (metrics.spike_duration > 0.01) & (metrics.n_electrodes_spanned < 20)
    expected = _expected_passes(good.to_numpy(), noise_free.to_numpy())
    labels = (UnitCount.Unit & SORTED & {"unit_criteria_id": 1}).fetch("passes").tolist()
    assert labels == expected and -1 in labels and 1 in labels
    count = (UnitCount & SORTED & {"unit_criteria_id": 1}).fetch1()
    assert (count["all"], count["sua"], count["mua"]) == (15, expected.count(1), expected.count(0))
    second = ((metrics.isi_contamination < 0.05) & ((metrics.firing_rate > 0.5) | (metrics.snr > 5))
              & (metrics.depth_drift_start_to_end.abs() < 6))
    assert (UnitCount.Unit & SORTED & {"unit_criteria_id": 2}).fetch("passes").tolist() == \
        _expected_passes(second.to_numpy(), None)
    assert not UnitCount & {"unit_criteria_id": counts.manual}
    assert UnitCount.populate()["success_count"] == 0


def test_bad_criteria_raise_and_insert_nothing(project, counts) -> None:
    UnitCountCriteria.insert([dict(unit_criteria_id=90, sua_criteria="snr_db > 3"),
                              dict(unit_criteria_id=91, sua_criteria="snr + 1")])
    try:
        with pytest.raises(QueryError, match=r"'snr_db'.*Did you mean 'snr'.*Columns: .*isi_contamination") as error:
            UnitCount.populate({"unit_criteria_id": 90})
        assert error.value.hint
        with pytest.raises(QueryError, match="not True/False for each unit") as error:
            UnitCount.populate({"unit_criteria_id": 91})
        assert "snr > 5" in error.value.hint
        assert not UnitCount & "unit_criteria_id >= 90" and not UnitCount.Unit & "unit_criteria_id >= 90"
    finally:
        (UnitCountCriteria & "unit_criteria_id >= 90").delete(safemode=False)


def test_manual_criteria_copy_passes_and_refresh_summary(project, counts) -> None:
    manual = UnitCountCriteria.add_manual("manual_couto_curated")
    assert UnitCountCriteria.add_manual("manual_couto_curated") == manual, "adding it again returns its id"
    assert UnitCountCriteria.next_id() == manual + 1
    for bad in ("couto_curated", "manual_couto", "manual__x"):
        with pytest.raises(DataError, match="manual_<annotator>_<descriptor>"):
            UnitCountCriteria.add_manual(bad)
    with pytest.raises(QueryError, match="No UnitCountCriteria 77"):
        UnitCount.copy_passes(DATASET, 1, 77)
    with pytest.raises(QueryError, match="No UnitCount of criteria 2"):
        UnitCount.copy_passes(dict(DATASET, parameter_set_num=2), 2, manual)

    UnitCount.copy_passes(SUBSET, 1, manual)
    with pytest.raises(DuplicateError, match="exists already"):
        UnitCount.copy_passes(DATASET, 1, manual)  # sorting 1 copies first, then sorting 3 exists: all rolled back
    assert not UnitCount & SORTED & {"unit_criteria_id": manual}, "one transaction: nothing of sorting 1 was kept"

    made = UnitCount.copy_passes(DATASET, 1, manual, replace=True)
    source = (UnitCount & SORTED & {"unit_criteria_id": 1}).fetch1()
    assert [(m["all"], m["sua"], m["mua"]) for m in made] == [(source["all"], source["sua"], source["mua"]),
                                                             (5, *(UnitCount & SUBSET & {"unit_criteria_id": 1}
                                                                   ).fetch1("sua", "mua"))]
    copied = (UnitCount.Unit & SORTED & {"unit_criteria_id": manual}).fetch("passes").tolist()
    assert copied == (UnitCount.Unit & SORTED & {"unit_criteria_id": 1}).fetch("passes").tolist()

    curated = dict(SORTED, unit_criteria_id=manual)
    labels = (UnitCount.Unit & curated).fetch(as_dict=True)
    UnitCount.Unit.insert([dict(row, passes=1) for row in labels[:3]], replace=True, allow_direct_insert=True)
    (UnitCount.Unit & curated & {"unit_id": int(labels[-1]["unit_id"])}).delete(safemode=False, force=True)
    passes = (UnitCount.Unit & curated).fetch("passes")
    assert len(passes) == 14
    [summary] = [row for row in UnitCount.refresh_summary(SORTED) if row["unit_criteria_id"] == manual]
    assert summary == dict(curated, all=15, sua=int(np.sum(passes == 1)), mua=15 - int(np.sum(passes == 1))
                           - int(np.sum(passes == -1))), "an unlabelled unit counts as a multi unit"
    assert (UnitCount & curated).fetch1("sua") == summary["sua"]
