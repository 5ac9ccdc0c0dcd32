"""StreamSync and DatasetEvents.Digital.fetch_synced / plot_synced: mapping one stream's clock onto another's.

The synthetic session has a nidq-like clock stream (seconds; 1 Hz sync pulses logged as
onsets and offsets, values 1/0) and an imec-like stream counting samples at a nominal
30 kHz whose crystal runs 20 ppm fast and started at an offset. Every imec sample ``s``
happened at clock time ``(s - OFFSET) / FS_TRUE``; the mapping must recover that within
one sample for events that are not sync pulses, including after the last pulse.
"""

from __future__ import annotations

import warnings

import matplotlib
import numpy as np
import pytest

from catalog_kinds import sqlite_only
from labdata.core.errors import LabdataWarning, QueryError, SyncError
from labdata.schema import Dataset, DatasetEvents, Session, StreamSync, Subject
from labdata.schema.sync import METHODS, clock_mapping, keep_onsets, matched_onsets

matplotlib.use("Agg")

FS = 30000.0                    # nominal imec rate: what a naive conversion divides by
FS_TRUE = FS * (1 + 20e-6)      # imec samples per clock second (20 ppm fast)
OFFSET = 4321.25                # imec sample at clock time 0
ONE_SAMPLE = 1 / FS
KEY = dict(subject_name="JC178", session_name="20240101_120000", dataset_name="ephys")
EVENT_TIMES = np.array([0.3, 42.123, 99.9, 149.6, 155.0, 160.0])  # clock seconds; pulses run 1..150 s


def imec_samples(seconds: np.ndarray) -> np.ndarray:
    """The imec sample counts (uint64) at clock times ``seconds``."""
    return np.round(OFFSET + np.asarray(seconds) * FS_TRUE).astype(np.uint64)


def clock_seconds(samples: np.ndarray) -> np.ndarray:
    """The true clock time of imec samples."""
    return (samples.astype(np.float64) - OFFSET) / FS_TRUE


PULSE_SAMPLES = imec_samples(np.arange(1.0, 151.0))     # 150 pulses, exact on both streams
PULSE_SECONDS = clock_seconds(PULSE_SAMPLES)
EVENT_SAMPLES = imec_samples(EVENT_TIMES)
EVENT_TRUTH = clock_seconds(EVENT_SAMPLES)


def both_edges(onsets: np.ndarray, width: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Onsets and offsets interleaved, with values 1/0."""
    return np.column_stack([onsets, onsets + width]).ravel(), np.tile([1, 0], onsets.size)


def fill_session(subject_row, *, sync: bool = True, imec_pulses: np.ndarray = PULSE_SAMPLES) -> None:
    """Insert the synthetic session: nidq clock, imec0 stream, an unsynced obx stream, and the StreamSync."""
    Subject.insert1(subject_row())
    Session.insert1(dict(subject_name=KEY["subject_name"], session_name=KEY["session_name"],
                         session_datetime="2024-01-01 12:00:00"))
    Dataset.insert1(KEY)
    DatasetEvents.insert([KEY | dict(stream_name=s) for s in ("imec0", "nidq", "obx")], allow_direct_insert=True)
    clock_times, clock_values = both_edges(PULSE_SECONDS)
    stim_times, stim_values = both_edges(np.array([10.0, 20.0, 30.0]), 0.1)
    DatasetEvents.Digital.insert([
        KEY | dict(stream_name="nidq", event_name="7", event_timestamps=clock_times, event_values=clock_values),
        KEY | dict(stream_name="nidq", event_name="1", event_timestamps=stim_times, event_values=stim_values),
        KEY | dict(stream_name="imec0", event_name="6", event_timestamps=imec_pulses,
                   event_values=np.ones(imec_pulses.size, dtype=np.int8)),
        KEY | dict(stream_name="imec0", event_name="2", event_timestamps=EVENT_SAMPLES, event_values=None),
        KEY | dict(stream_name="obx", event_name="0", event_timestamps=np.array([1.0, 2.0]),
                   event_values=np.array([1, 0])),
    ], allow_direct_insert=True)
    if sync:  # as the seed documentation writes it: event names given as integers
        StreamSync().insert1(dict(KEY, stream_name="imec0", event_name=6, clock_dataset=KEY["dataset_name"],
                                  clock_stream="nidq", clock_stream_event=7))


# ---- through the tables (SQLite and PostgreSQL catalogs) ---------------------------------------------------

@sqlite_only
def test_the_seed_insert_with_integer_event_names(people, subject_row) -> None:
    fill_session(subject_row)
    row = (StreamSync & KEY).fetch1()
    assert (row["event_name"], row["clock_stream"], row["clock_stream_event"]) == ("6", "nidq", "7")
    assert (StreamSync & KEY).clock_stream() == "nidq"


@sqlite_only
@pytest.mark.parametrize("method", METHODS)
def test_stream_sync_recovers_a_20_ppm_drift_within_one_sample(people, subject_row, method) -> None:
    fill_session(subject_row)
    sync = StreamSync & KEY & {"stream_name": "imec0"}
    sync_onsets, clock_onsets = sync.get_interp_data()
    assert sync_onsets.size == clock_onsets.size == 150  # the clock's offsets were dropped
    np.testing.assert_array_equal(clock_onsets, PULSE_SECONDS)

    mapped = sync.apply(EVENT_SAMPLES, method=method)
    assert mapped.dtype == np.float64
    assert np.abs(mapped - EVENT_TRUTH).max() < ONE_SAMPLE
    # the test can tell: ignoring the drift (even with the offset right) misses by ~96 samples at 160 s
    naive = (EVENT_SAMPLES.astype(np.float64) - PULSE_SAMPLES[0]) / FS + PULSE_SECONDS[0]
    assert abs(naive[-1] - EVENT_TRUTH[-1]) > 50 * ONE_SAMPLE
    mapping = sync.apply(None, method=method)
    np.testing.assert_allclose(mapping(EVENT_SAMPLES), mapped)

    events = (DatasetEvents.Digital & KEY).fetch_synced(method=method)
    assert [(e["stream_name"], e["event_name"]) for e in events] == [
        ("imec0", "2"), ("imec0", "6"), ("nidq", "1"), ("nidq", "7")]  # obx has no StreamSync: dropped
    assert set(events[0]) == set(DatasetEvents.Digital.heading.names)
    assert np.abs(events[0]["event_timestamps"] - EVENT_TRUTH).max() < ONE_SAMPLE
    assert events[0]["event_values"] is None
    assert np.abs(events[1]["event_timestamps"] - PULSE_SECONDS).max() < 1e-9
    np.testing.assert_array_equal(events[3]["event_timestamps"], both_edges(PULSE_SECONDS)[0])
    np.testing.assert_array_equal(events[2]["event_values"], [1, 0] * 3)


@sqlite_only
def test_fetch_synced_of_part_of_a_stream(people, subject_row) -> None:
    fill_session(subject_row)
    events = (DatasetEvents.Digital & KEY & {"stream_name": "imec0", "event_name": "2"}).fetch_synced()
    assert len(events) == 1 and np.abs(events[0]["event_timestamps"] - EVENT_TRUTH).max() < ONE_SAMPLE


@sqlite_only
def test_fetch_synced_without_stream_sync_warns_and_returns_the_events(people, subject_row) -> None:
    fill_session(subject_row, sync=False)
    with pytest.warns(LabdataWarning, match="No StreamSync"):
        events = (DatasetEvents.Digital & KEY).fetch_synced()
    original = (DatasetEvents.Digital & KEY).fetch(as_dict=True)
    assert [(e["stream_name"], e["event_name"]) for e in events] == [
        (e["stream_name"], e["event_name"]) for e in original]
    np.testing.assert_array_equal(events[1]["event_timestamps"], PULSE_SAMPLES)
    assert events[1]["event_timestamps"].dtype == np.uint64


@sqlite_only
def test_a_missing_pulse_raises_unless_forced(people, subject_row) -> None:
    fill_session(subject_row, imec_pulses=PULSE_SAMPLES[:-1])  # the imec stream stopped before the last pulse
    sync = StreamSync & KEY
    with pytest.warns(LabdataWarning, match="149 sync pulses on the stream but 150"), pytest.raises(SyncError):
        sync.apply(EVENT_SAMPLES)
    with pytest.warns(LabdataWarning), pytest.raises(SyncError, match="force=True"):
        (DatasetEvents.Digital & KEY).fetch_synced()
    with pytest.warns(LabdataWarning, match="Truncating"):
        mapped = sync.apply(EVENT_SAMPLES[:3], force=True)  # pulses 1..149 match: exact inside them
    assert np.abs(mapped - EVENT_TRUTH[:3]).max() < ONE_SAMPLE


@sqlite_only
def test_selections_that_are_not_one_row_and_unknown_methods_are_refused(people, subject_row) -> None:
    fill_session(subject_row)
    with pytest.raises(QueryError, match="selection has 0"):
        (StreamSync & {"stream_name": "imec1"}).apply(EVENT_SAMPLES)
    StreamSync.insert1(KEY | dict(stream_name="imec0", event_name="2", clock_dataset="ephys", clock_stream="nidq",
                                  clock_stream_event="1"))
    with pytest.raises(QueryError, match="selection has 2"):
        (StreamSync & KEY).get_interp_data()
    with pytest.raises(ValueError, match="piecewise-linear"):
        (StreamSync & KEY & {"event_name": "6"}).apply(EVENT_SAMPLES, method="linear")
    with pytest.raises(QueryError, match="cubic-spline"):
        (DatasetEvents.Digital & KEY).fetch_synced(method="nearest")


@sqlite_only
def test_plot_synced_draws_one_row_per_event(people, subject_row) -> None:
    import matplotlib.pyplot as plt

    fill_session(subject_row)
    fig = plt.figure()
    try:
        ax = (DatasetEvents.Digital & KEY).plot_synced(overlay_original=True)
        assert ax is plt.gca()
        assert [t.get_text() for t in ax.get_yticklabels()] == ["imec0_2", "imec0_6", "nidq_1", "nidq_7"]
        colors = [tuple(np.round(c.get_colors()[0], 3)) for c in ax.collections]
        assert colors.count((0.6, 0.6, 0.6, 1.0)) == 4  # originals in grey, under each synced row
        assert ax.get_xlim()[1] > 1000  # the overlaid imec originals are samples
    finally:
        plt.close(fig)


@sqlite_only
def test_plot_synced_without_sync_plots_the_raw_events(people, subject_row) -> None:
    import matplotlib.pyplot as plt

    fill_session(subject_row, sync=False)
    fig = plt.figure()
    try:
        with pytest.warns(LabdataWarning):
            ax = (DatasetEvents.Digital & KEY).plot_synced(stream_colors="rb")
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert labels == ["imec0_2", "imec0_6", "nidq_1", "nidq_7", "obx_0"] and len(ax.collections) == 5
    finally:
        plt.close(fig)


# ---- the mapping without a lake -------------------------------------------------------------------------

@pytest.mark.parametrize("method", METHODS)
def test_clock_mapping_extrapolates_beyond_the_pulses(method) -> None:
    mapping = clock_mapping(PULSE_SAMPLES, PULSE_SECONDS, method)
    assert np.abs(mapping(EVENT_SAMPLES) - EVENT_TRUTH).max() < ONE_SAMPLE
    late = imec_samples(np.array([200.0]))  # 50 s after the last pulse: a clamp would answer 150 s
    assert abs(mapping(late)[0] - clock_seconds(late)[0]) < ONE_SAMPLE


def test_piecewise_linear_follows_the_end_segments() -> None:
    mapping = clock_mapping([0.0, 1.0, 3.0], [10.0, 20.0, 24.0], "piecewise-linear")
    np.testing.assert_allclose(mapping([-1.0, 0.5, 2.0, 5.0]), [0.0, 15.0, 22.0, 28.0])
    assert mapping(np.uint64(2)) == pytest.approx(22.0)


def test_clock_mapping_refuses_unknown_methods_and_bad_pulses() -> None:
    with pytest.raises(QueryError, match="'cubic-spline' or method='piecewise-linear'") as error:
        clock_mapping(PULSE_SAMPLES, PULSE_SECONDS, "linear")
    assert isinstance(error.value, ValueError)
    with pytest.raises(SyncError, match="at least two"):
        clock_mapping([1.0], [2.0])
    with pytest.raises(SyncError, match="increase"):
        clock_mapping([1.0, 1.0, 2.0], [1.0, 2.0, 3.0])


def test_matched_onsets_keeps_the_onsets_of_the_side_with_both_edges() -> None:
    clock, values = both_edges(PULSE_SECONDS)
    sync, clock_onsets = matched_onsets(PULSE_SAMPLES, clock, None, values)
    np.testing.assert_array_equal(sync, PULSE_SAMPLES)
    np.testing.assert_array_equal(clock_onsets, PULSE_SECONDS)
    # values NULL: every other timestamp; and the other side may have both edges instead
    sync_both = both_edges(PULSE_SAMPLES.astype(np.float64), 15000)[0]
    sync, clock_onsets = matched_onsets(sync_both[:-1], PULSE_SECONDS)  # the last offset was not recorded
    np.testing.assert_array_equal(sync, PULSE_SAMPLES)
    assert clock_onsets.size == 150
    np.testing.assert_array_equal(keep_onsets([1, 2, 3, 4], [0, 1, 0, 1]), [2, 4])


def test_matched_onsets_mismatch_warns_raises_and_force_truncates() -> None:
    with pytest.warns(LabdataWarning, match="148 sync pulses on the stream but 150 on the clock"), \
            pytest.raises(SyncError, match=r"hint: .*force=True"):
        matched_onsets(PULSE_SAMPLES[2:], PULSE_SECONDS)
    with pytest.warns(LabdataWarning, match="Truncating"):
        sync, clock = matched_onsets(PULSE_SAMPLES[:148], PULSE_SECONDS, force=True)
    assert sync.size == clock.size == 148 and clock[-1] == PULSE_SECONDS[147]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert matched_onsets(PULSE_SAMPLES[:148], PULSE_SECONDS, force=True, warn=False)[0].size == 148
    with pytest.raises(SyncError, match="No sync pulses"):
        matched_onsets([], PULSE_SECONDS)
