"""Clock synchronisation between acquisition streams: StreamSync and DatasetEvents.Digital methods.

Streams of one session run on different clocks (a Neuropixels probe counts samples at
a nominal 30 kHz, the NI-DAQ reports seconds, and both crystals drift by tens of ppm).
When the same sync pulse is recorded on two streams, a :class:`StreamSync` row names the
pair, and the pulse times seen on both sides define a mapping from the synced stream's
time (*sync*, e.g. imec samples) to the clock stream's time (*clock*, e.g. nidq seconds).

The mapping math is in plain functions usable without a lake: :func:`keep_onsets`,
:func:`matched_onsets` and :func:`clock_mapping`. The table methods fetch the pulses and
call them.

Examples
--------
>>> sync = (StreamSync & dset_key & {"stream_name": "imec0"})                  # doctest: +SKIP
>>> seconds = sync.apply(spike_samples)                                         # doctest: +SKIP
>>> events = (DatasetEvents.Digital & dset_key).fetch_synced()                  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from labdata.core.errors import LabdataWarning, QueryError, SyncError

__all__ = ["METHODS", "DigitalMethods", "StreamSyncMethods", "clock_mapping", "keep_onsets", "matched_onsets"]

METHODS = ("cubic-spline", "piecewise-linear")
"""Names of the interpolation methods of :func:`clock_mapping`."""

_DATASET = ("subject_name", "session_name", "dataset_name")
_STREAM = (*_DATASET, "stream_name")


# ---- pure mapping math -----------------------------------------------------------------

def keep_onsets(timestamps: Any, values: Any = None) -> np.ndarray:
    """Onsets of an event logged as transitions.

    Parameters
    ----------
    timestamps : array_like
        Times of every transition.
    values : array_like, optional
        Value after each transition (1 onset, 0 offset). When None the transitions are
        assumed to alternate starting with an onset, and every other timestamp is kept.

    Returns
    -------
    numpy.ndarray
        The onset timestamps (dtype of ``timestamps``).
    """
    timestamps = np.asarray(timestamps)
    if values is None:
        return timestamps[::2]
    values = np.asarray(values)
    if values.shape != timestamps.shape:
        raise SyncError(f"{values.size} event values for {timestamps.size} timestamps.",
                        hint="event_values must have one value per timestamp.")
    return timestamps[values == 1]


def _halve_if_both_edges(timestamps: np.ndarray, values: Any, other: int, allowed_offset: int) -> np.ndarray:
    """Keep onsets when ``timestamps`` has about twice as many entries as the other side."""
    if timestamps.size != other and abs(timestamps.size - 2 * other) <= allowed_offset:
        return keep_onsets(timestamps, values)
    return timestamps


def matched_onsets(sync: Any, clock: Any, sync_values: Any = None, clock_values: Any = None, *,
                   force: bool = False, warn: bool = True, allowed_offset: int = 2,
                   label: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Pair the pulses seen on the synced stream with those seen on the clock stream.

    If one side has about twice as many timestamps as the other (within
    ``allowed_offset``), it logged both edges of each pulse, and only its onsets are
    kept (``values == 1``, or every other timestamp when ``values`` is None).

    Parameters
    ----------
    sync, clock : array_like
        Pulse timestamps on the synced stream and on the clock stream, each in its own unit.
    sync_values, clock_values : array_like, optional
        Edge of each timestamp (1 onset, 0 offset).
    force : bool
        When the counts still differ, truncate both sides to the shorter instead of raising.
    warn : bool
        Warn (:class:`~labdata.core.errors.LabdataWarning`) when the counts differ.
    allowed_offset : int
        Tolerance of the "twice as many" test, in pulses.
    label : str
        Names the pair in messages.

    Returns
    -------
    sync_onsets, clock_onsets : numpy.ndarray
        Equal-length arrays of matched pulse times.

    Raises
    ------
    SyncError
        The counts differ and ``force`` is False, or a side is empty.
    """
    sync, clock = np.asarray(sync).ravel(), np.asarray(clock).ravel()
    if sync.size == 0 or clock.size == 0:
        raise SyncError(f"No sync pulses{_of(label)}: {sync.size} on the stream, {clock.size} on the clock.",
                        hint="Check that both events were extracted (DatasetEvents.Digital).")
    n_sync, n_clock = sync.size, clock.size
    sync = _halve_if_both_edges(sync, sync_values, n_clock, allowed_offset)
    clock = _halve_if_both_edges(clock, clock_values, n_sync, allowed_offset)
    if sync.size != clock.size:
        message = f"{sync.size} sync pulses on the stream but {clock.size} on the clock{_of(label)}."
        if warn:
            warnings.warn(message + " Truncating to the shorter." if force else message, LabdataWarning,
                          stacklevel=3)
        if not force:
            raise SyncError(message, hint="Check that both events record the same pulses; pass force=True "
                                          "to match the first pulses and drop the extra ones.")
    n = min(sync.size, clock.size)
    return sync[:n], clock[:n]


def _of(label: str) -> str:
    return f" ({label})" if label else ""


def clock_mapping(sync_onsets: Any, clock_onsets: Any, method: str = "cubic-spline") -> Callable[[Any], Any]:
    """A function mapping times of the synced stream to times of the clock stream.

    Parameters
    ----------
    sync_onsets, clock_onsets : array_like
        Matched pulse times (same length, at least 2, ``sync_onsets`` strictly increasing).
    method : {'cubic-spline', 'piecewise-linear'}
        ``'cubic-spline'``: :class:`scipy.interpolate.CubicSpline` through the pairs,
        extrapolated with its end polynomials. ``'piecewise-linear'``: straight lines
        between pairs, extrapolated linearly from the first and last segments (the
        original labdata clamped to the end pulses instead, freezing every time outside).

    Returns
    -------
    callable
        ``f(times) -> clock times`` as float64 (times are converted to float64 first, so
        uint64 sample counts map directly to seconds).

    Raises
    ------
    QueryError
        ``method`` is not one of :data:`METHODS`.
    SyncError
        Fewer than two pairs, or sync pulse times that do not increase.
    """
    _check_method(method)
    x = np.asarray(sync_onsets, dtype=np.float64).ravel()
    y = np.asarray(clock_onsets, dtype=np.float64).ravel()
    if x.size != y.size or x.size < 2:
        raise SyncError(f"A clock mapping needs at least two matched pulses; got {x.size} and {y.size}.",
                        hint="Check the sync events of the StreamSync row.")
    if np.any(np.diff(x) <= 0):
        raise SyncError("The sync pulse times do not strictly increase.",
                        hint="Check the sync event; timestamps must be sorted and unique.")
    if method == "cubic-spline":
        from scipy.interpolate import CubicSpline

        return CubicSpline(x, y, extrapolate=True)
    return _linear(x, y)


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise QueryError(f"Unknown sync method {method!r}.",
                         hint="Use method='cubic-spline' or method='piecewise-linear'.")


def _linear(x: np.ndarray, y: np.ndarray) -> Callable[[Any], Any]:
    """Piecewise-linear interpolation through (x, y), extended by the end segments."""
    first, last = (y[1] - y[0]) / (x[1] - x[0]), (y[-1] - y[-2]) / (x[-1] - x[-2])

    def mapping(times: Any) -> Any:
        t = np.asarray(times, dtype=np.float64)
        out = np.interp(t, x, y)
        out = np.where(t < x[0], y[0] + (t - x[0]) * first, out)
        return np.where(t > x[-1], y[-1] + (t - x[-1]) * last, out)

    return mapping


# ---- StreamSync ------------------------------------------------------------------------

def _single_row(query: Any, what: str) -> dict[str, Any]:
    rows = query.fetch(as_dict=True)
    if len(rows) != 1:
        raise QueryError(f"{what} works on one StreamSync row; the selection has {len(rows)}.",
                         hint="Restrict StreamSync to one stream_name and event_name of one dataset.")
    return rows[0]


def _digital(context: Any) -> Any:
    from labdata.schema.general import DatasetEvents

    return DatasetEvents.Digital(context)


class StreamSyncMethods:
    """Mixed into StreamSync: match the pulses of a row and map times into its clock."""

    def get_interp_data(self, force: bool = False, warn: bool = True,
                        allowed_offset: int = 2) -> tuple[np.ndarray, np.ndarray]:
        """Matched pulse times of the selected row: (sync_onsets, clock_onsets).

        Parameters
        ----------
        force : bool
            Truncate to the shorter side when the pulse counts differ, instead of raising.
        warn : bool
            Warn when the counts differ.
        allowed_offset : int
            Tolerance of the "one side logged both edges" test (see :func:`matched_onsets`).

        Raises
        ------
        QueryError
            The selection is not exactly one row.
        SyncError
            A pulse event has no timestamps, or the counts differ and ``force`` is False.
        """
        row = _single_row(self, "get_interp_data")
        digital = _digital(self.context)  # type: ignore[attr-defined]
        sync = _pulses(digital, row, row["dataset_name"], row["stream_name"], row["event_name"])
        clock = _pulses(digital, row, row["clock_dataset"], row["clock_stream"], row["clock_stream_event"])
        label = (f"{row['stream_name']}:{row['event_name']} -> {row['clock_dataset']}/"
                 f"{row['clock_stream']}:{row['clock_stream_event']}")
        return matched_onsets(sync[0], clock[0], sync[1], clock[1], force=force, warn=warn,
                              allowed_offset=allowed_offset, label=label)

    def apply(self, values: Any, sync_onsets: Any = None, warn: bool = True, clock_onsets: Any = None,
              force: bool = False, method: str = "cubic-spline") -> Any:
        """Map times of the synced stream into the clock stream.

        Parameters
        ----------
        values : array_like or None
            Times in the synced stream's unit (e.g. imec samples). None returns the mapping.
        sync_onsets, clock_onsets : array_like, optional
            Matched pulse times; fetched with :meth:`get_interp_data` unless both are given.
        warn, force
            As in :meth:`get_interp_data`.
        method : {'cubic-spline', 'piecewise-linear'}
            See :func:`clock_mapping`.

        Returns
        -------
        numpy.ndarray or callable
            ``values`` in the clock's unit (float64), or the mapping when ``values`` is None.
        """
        _check_method(method)
        if sync_onsets is None or clock_onsets is None:
            sync_onsets, clock_onsets = self.get_interp_data(force=force, warn=warn)
        mapping = clock_mapping(sync_onsets, clock_onsets, method)
        return mapping if values is None else mapping(np.asarray(values, dtype=np.float64))

    def clock_stream(self) -> Any:
        """Clock stream names of the selected rows: a str if there is one, else an array."""
        names = np.unique(self.fetch("clock_stream"))  # type: ignore[attr-defined]
        return str(names[0]) if names.size == 1 else names


def _pulses(digital: Any, row: dict[str, Any], dataset: str, stream: str, event: str) -> tuple[Any, Any]:
    key = dict(subject_name=row["subject_name"], session_name=row["session_name"], dataset_name=dataset,
               stream_name=stream, event_name=event)
    timestamps, values = (digital & key).fetch1("event_timestamps", "event_values")
    if timestamps is None:
        raise SyncError(f"The event {dataset}/{stream}:{event} has no timestamps.",
                        hint="Extract the digital events of that stream first.")
    return timestamps, values


# ---- DatasetEvents.Digital -------------------------------------------------------------

class DigitalMethods:
    """Mixed into DatasetEvents.Digital: events mapped into their clock stream, and a raster."""

    projkeys: ClassVar[list[str]] = [*_STREAM, "event_name"]

    def fetch_synced(self, force: bool = False, method: str = "cubic-spline") -> list[dict[str, Any]]:
        """The selected events with their timestamps in the clock of their StreamSync.

        Every event of a stream that has a StreamSync row is mapped into the clock stream
        (:meth:`StreamSyncMethods.apply`); the selected events of the clock streams follow,
        unchanged; events of other streams are dropped. When no selected stream has a
        StreamSync row, a warning is emitted and the events are returned unchanged.

        Parameters
        ----------
        force : bool
            Truncate mismatched pulse counts instead of raising.
        method : {'cubic-spline', 'piecewise-linear'}
            See :func:`clock_mapping`.

        Returns
        -------
        list of dict
            Rows with the columns of DatasetEvents.Digital (mapped timestamps are float64).
        """
        _check_method(method)
        events = self.fetch(as_dict=True)  # type: ignore[attr-defined]
        syncs = _syncs_of(self.context, events)  # type: ignore[attr-defined]
        if not syncs:
            warnings.warn("No StreamSync for the selected events; returning them unsynced.", LabdataWarning,
                          stacklevel=2)
            return events
        table = _stream_sync(self.context)  # type: ignore[attr-defined]
        synced, clocks, mapped = [], set(), set()
        for sync in syncs:
            mapping = (table & sync).apply(None, force=force, method=method)
            stream = tuple(sync[k] for k in _STREAM)
            mapped.add(stream)
            synced += [_mapped(e, mapping) for e in events if _stream_of(e) == stream]
            clocks.add((sync["subject_name"], sync["session_name"], sync["clock_dataset"], sync["clock_stream"]))
        clocks -= mapped  # a clock that is itself synced was mapped above
        return synced + [e for e in events if _stream_of(e) in clocks]

    def plot_synced(self, stream_colors: str = "krbgyb", overlay_original: bool = False, lw: float = 1,
                    force: bool = True) -> Any:
        """Raster of the synced events on the current matplotlib axes, one row per event.

        Parameters
        ----------
        stream_colors : str or sequence of colors
            One colour per stream, in order of appearance (cycled).
        overlay_original : bool
            Also draw the unsynced timestamps, in grey.
        lw : float
            Line width of the ticks.
        force : bool
            Passed to :meth:`fetch_synced`.

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn on; y tick labels are ``<stream>_<event>``.
        """
        import matplotlib.pyplot as plt

        events = self.fetch_synced(force=force)
        rows = self.fetch(as_dict=True) if overlay_original else []  # type: ignore[attr-defined]
        original = {_event_of(e): e for e in rows}
        streams = list(dict.fromkeys(e["stream_name"] for e in events))
        ax = plt.gca()
        for row, event in enumerate(events):
            color = stream_colors[streams.index(event["stream_name"]) % len(stream_colors)]
            if overlay_original and _event_of(event) in original:
                _ticks(ax, original[_event_of(event)]["event_timestamps"], row, "0.6", lw)
            _ticks(ax, event["event_timestamps"], row, color, lw)
        ax.set_yticks(np.arange(len(events)) + 0.4)
        ax.set_yticklabels([f"{e['stream_name']}_{e['event_name']}" for e in events])
        return ax


def _stream_sync(context: Any) -> Any:
    from labdata.schema.general import StreamSync

    return StreamSync(context)


def _syncs_of(context: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """StreamSync rows of the streams of ``events`` (any sync event)."""
    streams = [dict(zip(_STREAM, s, strict=True)) for s in dict.fromkeys(_stream_of(e) for e in events)]
    if not streams:
        return []
    return (_stream_sync(context) & streams).fetch(as_dict=True)


def _stream_of(event: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(event[k] for k in _STREAM)


def _event_of(event: dict[str, Any]) -> tuple[Any, ...]:
    return (*_stream_of(event), event["event_name"])


def _mapped(event: dict[str, Any], mapping: Callable[[Any], Any]) -> dict[str, Any]:
    timestamps = event["event_timestamps"]
    return event | {"event_timestamps": None if timestamps is None else np.asarray(mapping(timestamps))}


def _ticks(ax: Any, timestamps: Any, row: int, color: Any, lw: float) -> None:
    if timestamps is not None and np.size(timestamps):
        ax.vlines(np.asarray(timestamps, dtype=np.float64), row, row + 0.8, colors=color, lw=lw)
