"""The 30 UnitMetrics columns of every unit of one sorting (reference §1.11), from arrays.

:func:`unit_metrics` combines the spike-train metrics of
:mod:`labdata.metrics.spike_metrics` (all units at once, from one concatenated spike
array), the footprint of :mod:`labdata.metrics.footprint` (per unit, on a neighbour graph
built once per sorting) and the waveform shape metrics of
:mod:`labdata.metrics.waveform_metrics` (all waveforms of a length at once). It reads no
table: ``UnitMetrics.make`` fetches the arrays and inserts the rows.

Waveform-derived columns (``depth``, ``position``, ``shank``, ``channel_index``,
``n_electrodes_spanned``, ``span_um``, ``active_electrodes``, the shape metrics and ``snr``)
are NULL for units without a stored waveform. ``snr`` is ``spike_amplitude / (channel_mad[peak]
/ 0.6745)`` with the unscaled MAD of the peak channel in the sorting's first segment.

Examples
--------
>>> import numpy as np
>>> spikes = SortingSpikes.from_units([np.arange(1000, 600_000, 3000)], 30000.0, 20.0)
>>> row = unit_metrics(spikes, [0], None, None)[0]
>>> row["num_spikes"], row["firing_rate"], row["presence_ratio"], row["n_isi_violations"]
(200, 10.0, 1.0, 0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from labdata.metrics.footprint import footprints, neighbour_graph
from labdata.metrics.spike_metrics import SPIKE_METRICS, SortingSpikes, spike_train_metrics
from labdata.metrics.waveform_metrics import SHAPE_METRICS, waveform_shape_metrics

__all__ = ["METRIC_COLUMNS", "MAD_TO_SIGMA", "ProbeChannels", "SortingSpikes", "UnitWaveforms",
           "sorting_channel_shanks", "unit_metrics"]

MAD_TO_SIGMA = 0.6745
FOOTPRINT_COLUMNS = ("depth", "position", "shank", "channel_index", "n_electrodes_spanned", "span_um",
                     "active_electrodes")
METRIC_COLUMNS = (*SPIKE_METRICS, *FOOTPRINT_COLUMNS, *SHAPE_METRICS, "snr")
INTEGER_COLUMNS = frozenset({"num_spikes", "n_isi_violations", "shank", "channel_index", "n_electrodes_spanned",
                             "polarity"})


@dataclass(frozen=True)
class ProbeChannels:
    """The channels of a sorting: positions, shanks and noise.

    Attributes
    ----------
    coords : ndarray
        Channels × 2 positions (µm), in the sorting's channel order.
    shanks : ndarray, optional
        Shank of each channel.
    mad : ndarray, optional
        Unscaled median absolute deviation of each channel (µV), from ``SpikeSorting.Segment``.
    """

    coords: np.ndarray
    shanks: np.ndarray | None = None
    mad: np.ndarray | None = None


@dataclass(frozen=True)
class UnitWaveforms:
    """The stored median waveforms of some units of the sorting.

    Attributes
    ----------
    unit_index : sequence of int
        For each waveform, the index of its unit in the :class:`SortingSpikes`.
    medians : list of ndarray
        Samples × stored channels (µV).
    channels : list of ndarray or None
        The sorting channels of the stored columns (None: every channel).
    ptp : list of ndarray or None
        Peak-to-peak on every sorting channel (None: from the stored channels, others 0).
    noise : sequence of float
        Noise of each median (µV; NaN when unknown).
    n_pre : int
        Samples before the spike in each waveform.
    """

    unit_index: Sequence[int]
    medians: list[np.ndarray]
    channels: list[np.ndarray | None]
    ptp: list[np.ndarray | None]
    noise: Sequence[float]
    n_pre: int


def sorting_channel_shanks(sorting_channels: np.ndarray | None, channel_idx: np.ndarray,
                           channel_shank: np.ndarray) -> np.ndarray:
    """Shank of each sorting channel: its file channel looked up in the configuration's ``channel_idx``.

    Without ``sorting_channels`` the sorting's channels are the configuration's, in order. A file
    channel the configuration lacks gets shank -1.
    """
    channel_idx, channel_shank = np.asarray(channel_idx).ravel(), np.asarray(channel_shank).ravel()
    if sorting_channels is None:
        return channel_shank.astype(np.int64)
    wanted = np.asarray(sorting_channels).ravel()
    order = np.argsort(channel_idx, kind="stable")
    found = np.clip(np.searchsorted(channel_idx[order], wanted), 0, len(order) - 1)
    matches = channel_idx[order][found] == wanted
    return np.where(matches, channel_shank[order][found], -1).astype(np.int64)


def unit_metrics(spikes: SortingSpikes, unit_ids: Sequence[int], waveforms: UnitWaveforms | None,
                 channels: ProbeChannels | None) -> list[dict[str, Any]]:
    """One row per unit: ``unit_id`` and the 30 metric columns (None for NULL).

    Parameters
    ----------
    spikes : SortingSpikes
        Every unit's spikes (probe clock), amplitudes and depths.
    unit_ids : sequence of int
        The id of each unit of ``spikes``, in order.
    waveforms : UnitWaveforms, optional
        The stored waveforms (units without one get NULL waveform columns).
    channels : ProbeChannels, optional
        The sorting's channels (needed with ``waveforms``).

    Returns
    -------
    list of dict
        Rows ready to insert after adding the sorting's key.
    """
    columns: dict[str, list[Any]] = {name: [None] * spikes.n_units for name in METRIC_COLUMNS}
    for name, values in spike_train_metrics(spikes).items():
        columns[name] = list(values)
    if waveforms is not None and channels is not None and len(waveforms.medians):
        _fill_waveform_columns(columns, waveforms, channels, spikes.sampling_rate)
    return [dict(unit_id=int(unit_id), **{name: _stored(name, columns[name][i]) for name in METRIC_COLUMNS})
            for i, unit_id in enumerate(unit_ids)]


def _stored(name: str, value: Any) -> Any:
    """The value as a row holds it: None for NaN, int for integer columns, float otherwise."""
    if value is None or isinstance(value, np.ndarray):
        return value
    value = float(value)
    if math.isnan(value):
        return None
    return int(value) if name in INTEGER_COLUMNS else value


def _fill_waveform_columns(columns: dict[str, list[Any]], waveforms: UnitWaveforms, channels: ProbeChannels,
                           sampling_rate: float) -> None:
    coords = np.asarray(channels.coords, dtype=np.float64)
    ptp = _full_ptp(waveforms, len(coords))
    found = footprints(ptp, np.asarray(waveforms.noise, dtype=np.float64), coords, neighbour_graph(coords))
    shape = _shape_metrics(waveforms, sampling_rate)
    for row, (unit, footprint) in enumerate(zip(waveforms.unit_index, found, strict=True)):
        columns["position"][unit] = footprint.position
        columns["depth"][unit] = footprint.position[1]
        columns["channel_index"][unit] = footprint.peak
        columns["shank"][unit] = None if channels.shanks is None else channels.shanks[footprint.peak]
        columns["n_electrodes_spanned"][unit] = len(footprint.active)
        columns["span_um"][unit] = footprint.span_um
        columns["active_electrodes"][unit] = footprint.active
        for name in SHAPE_METRICS:
            columns[name][unit] = shape[name][row]
        columns["snr"][unit] = _snr(shape["spike_amplitude"][row], channels.mad, footprint.peak)


def _full_ptp(waveforms: UnitWaveforms, n_channels: int) -> np.ndarray:
    """Units × every sorting channel: the stored ``waveform_ptp``, else the ptp of the stored channels."""
    ptp = np.zeros((len(waveforms.medians), n_channels))
    for row, (median, stored_channels, stored_ptp) in enumerate(
            zip(waveforms.medians, waveforms.channels, waveforms.ptp, strict=True)):
        if stored_ptp is not None and np.size(stored_ptp) == n_channels:
            ptp[row] = np.asarray(stored_ptp, dtype=np.float64).ravel()
            continue
        values = np.asarray(median, dtype=np.float64).reshape(len(median), -1)
        where = np.arange(values.shape[1]) if stored_channels is None else np.asarray(stored_channels).ravel()
        ptp[row, where] = values.max(axis=0) - values.min(axis=0)
    return ptp


def _shape_metrics(waveforms: UnitWaveforms, sampling_rate: float) -> dict[str, np.ndarray]:
    """Shape metrics on each median's stored channel of largest ptp, waveforms of one length at a time."""
    principal = [_principal_channel(np.asarray(m, dtype=np.float64)) for m in waveforms.medians]
    lengths = np.array([len(w) for w in principal])
    result = {name: np.full(len(principal), np.nan) for name in SHAPE_METRICS}
    for length in np.unique(lengths):
        rows = np.flatnonzero(lengths == length)
        if length < 3:
            continue
        metrics = waveform_shape_metrics(np.stack([principal[r] for r in rows]), waveforms.n_pre, sampling_rate)
        for name, values in metrics.items():
            result[name][rows] = values
    return result


def _principal_channel(median: np.ndarray) -> np.ndarray:
    median = median.reshape(len(median), -1)
    return median[:, int(np.argmax(median.max(axis=0) - median.min(axis=0)))]


def _snr(amplitude: float, mad: np.ndarray | None, peak: int) -> float:
    if mad is None or peak >= np.size(mad):
        return math.nan
    noise = float(np.asarray(mad, dtype=np.float64).ravel()[peak]) / MAD_TO_SIGMA
    return amplitude / noise if noise > 0 else math.nan
