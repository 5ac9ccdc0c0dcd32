"""Spike-train metrics of every unit of a sorting at once (reference §1.11, the part that needs no waveform).

The spikes of all units are one concatenated array, sorted by unit and, within a unit, by
time; ``offsets[i]:offsets[i + 1]`` are unit ``i``'s spikes. Every metric is a bincount,
a grouped median or a row-wise operation on a (units × bins) matrix; there is no Python
loop over spikes or units.

Formulas (T = recording duration, N = spikes of the unit, t_r = 1.5 ms, t_c = 0.2 ms):

* ``firing_rate`` (more than 5 spikes): spikes in [0, T] / T.
* The rest need more than 50 spikes.
* ``n_isi_violations``: inter-spike intervals with t_c < ISI ≤ t_r.
* ``isi_contamination`` (Llobet et al. 2022, eq. 3):
  1 − sqrt(1 − n_v (T − 2 N t_c) / (N² (t_r − t_c))), NaN when the root's argument is negative.
* ``isi_contamination_hill`` (Hill et al. 2011, first order): n_v T / (2 N² (t_r − t_c)),
  the violation rate relative to the firing rate; it can exceed 1. (The spks code returned
  n_v / (2 N (t_r − t_c)); labdata fixes the documented formula.)
* ``amplitude_cutoff`` (Allen/ecephys): density histogram of the amplitudes in 500 bins,
  Gaussian-smoothed (σ = 3 bins); from the peak on, the bin whose density is closest to the
  first bin's; the area from that bin up; at most 0.5.
* ``presence_ratio``: fraction of 100 equal bins of [0, T] holding more than 1 spike.
* ``depth_drift_range``, ``depth_drift_fluctuation``, ``depth_drift_start_to_end``: median
  spike depth in 60 s bins holding more than 5 spikes; max − min of those medians; mean
  absolute difference between consecutive ones; median of the last bins minus median of
  the first bins (as many bins as start in the first 20 % of the recording); all NaN with
  fewer than 3 such bins.
* ``firing_range``: 95th minus 5th percentile of the rate in the full 10 s bins of [0, T].
* ``amplitude_drift``: median amplitude of the spikes at t ≥ 0.8 T over that of t < 0.2 T.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from labdata.metrics.grouped import group_counts, grouped_median, uniform_bin_index

__all__ = ["CENSORED_S", "REFRACTORY_S", "SPIKE_METRICS", "SortingSpikes", "spike_train_metrics"]

REFRACTORY_S = 1.5e-3
CENSORED_S = 0.2e-3
MIN_SPIKES_RATE = 5
MIN_SPIKES_METRICS = 50
AMPLITUDE_BINS, AMPLITUDE_SMOOTHING, AMPLITUDE_CUTOFF_CAP = 500, 3.0, 0.5
PRESENCE_BINS, PRESENCE_MIN_SPIKES = 100, 1
DRIFT_BIN_S, DRIFT_MIN_SPIKES, DRIFT_MIN_BINS, EDGE_FRACTION = 60.0, 5, 3, 0.2
RATE_BIN_S, RATE_PERCENTILES = 10.0, (5.0, 95.0)

SPIKE_METRICS = ("num_spikes", "firing_rate", "n_isi_violations", "isi_contamination", "isi_contamination_hill",
                 "amplitude_cutoff", "presence_ratio", "depth_drift_range", "depth_drift_fluctuation",
                 "depth_drift_start_to_end", "firing_range", "amplitude_drift")


@dataclass(frozen=True)
class SortingSpikes:
    """The spikes of every unit of one sorting, concatenated.

    Attributes
    ----------
    samples : ndarray of int64
        Spike times in samples of the probe clock, unit after unit, sorted within a unit.
    offsets : ndarray of int64
        ``n_units + 1`` boundaries: unit ``i`` is ``samples[offsets[i]:offsets[i + 1]]``.
    sampling_rate : float
        Samples per second.
    duration : float
        Recording duration T in seconds.
    amplitudes, depths : ndarray of float, optional
        Per spike (NaN where a unit has none); depth is the y of the spike position (µm).
    """

    samples: np.ndarray
    offsets: np.ndarray
    sampling_rate: float
    duration: float
    amplitudes: np.ndarray | None = None
    depths: np.ndarray | None = None

    @classmethod
    def from_units(cls, spike_times: list[np.ndarray], sampling_rate: float, duration: float, *,
                   amplitudes: list[np.ndarray | None] | None = None,
                   positions: list[np.ndarray | None] | None = None) -> SortingSpikes:
        """Concatenate per-unit arrays (as fetched from ``SpikeSorting.Unit``), sorting each unit by time."""
        counts = np.array([len(t) for t in spike_times], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(counts)])
        samples = np.concatenate([np.asarray(t, dtype=np.int64).ravel() for t in spike_times]) if len(counts) \
            else np.zeros(0, np.int64)
        backwards = np.flatnonzero(np.diff(samples) < 0) + 1  # fine where a unit starts, else a unit is unsorted
        order = None
        if not np.isin(backwards, offsets[1:-1]).all():
            order = np.lexsort((samples, np.repeat(np.arange(len(counts)), counts)))

        def per_spike(arrays: list[np.ndarray | None] | None, column: int | None) -> np.ndarray | None:
            if arrays is None or all(a is None for a in arrays):
                return None
            parts = [np.full(n, np.nan) if a is None or np.size(a) == 0
                     else np.asarray(a, dtype=np.float64).reshape(n, -1)[:, column or 0]
                     for a, n in zip(arrays, counts, strict=True)]
            joined = np.concatenate(parts) if parts else np.zeros(0)
            return joined if order is None else joined[order]

        return cls(samples if order is None else samples[order], offsets, float(sampling_rate), float(duration),
                   per_spike(amplitudes, None), per_spike(positions, 1))

    @property
    def n_units(self) -> int:
        """Number of units."""
        return len(self.offsets) - 1

    @property
    def counts(self) -> np.ndarray:
        """Spikes per unit."""
        return np.diff(self.offsets)

    @property
    def unit_of_spike(self) -> np.ndarray:
        """The unit index of each spike."""
        return np.repeat(np.arange(self.n_units), self.counts)

    @property
    def seconds(self) -> np.ndarray:
        """Spike times in seconds."""
        return self.samples / self.sampling_rate


def spike_train_metrics(spikes: SortingSpikes) -> dict[str, np.ndarray]:
    """Every spike-train metric of every unit (NaN where a unit has too few spikes or no data).

    Returns
    -------
    dict of str to ndarray
        One array of ``n_units`` values per name of :data:`SPIKE_METRICS`.
    """
    counts, unit, seconds = spikes.counts, spikes.unit_of_spike, spikes.seconds
    metrics: dict[str, np.ndarray] = {"num_spikes": counts.astype(np.int64),
                                      "firing_rate": _firing_rate(spikes, unit, seconds)}
    metrics |= _isi_metrics(spikes, unit)
    metrics["amplitude_cutoff"] = _amplitude_cutoff(spikes, unit)
    metrics["presence_ratio"] = _presence_ratio(spikes, unit)
    metrics |= _depth_drift(spikes, unit, seconds)
    metrics["firing_range"] = _firing_range(spikes, unit, seconds)
    metrics["amplitude_drift"] = _amplitude_drift(spikes, unit, seconds)
    enough = counts > MIN_SPIKES_METRICS
    for name in SPIKE_METRICS[2:]:
        metrics[name] = np.where(enough, metrics[name], np.nan)
    return metrics


def _firing_rate(spikes: SortingSpikes, unit: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    duration = spikes.duration
    if duration <= 0:
        return np.full(spikes.n_units, np.nan)
    inside = (seconds >= 0) & (seconds <= duration)
    rate = group_counts(unit[inside], spikes.n_units) / duration
    return np.where(spikes.counts > MIN_SPIKES_RATE, rate, np.nan)


def _isi_metrics(spikes: SortingSpikes, unit: np.ndarray) -> dict[str, np.ndarray]:
    """n_isi_violations and the Llobet and Hill contamination estimates."""
    intervals = np.diff(spikes.samples)
    same_unit = unit[1:] == unit[:-1]
    rate = spikes.sampling_rate
    violating = same_unit & (intervals > CENSORED_S * rate) & (intervals <= REFRACTORY_S * rate)
    n_v = group_counts(unit[1:][violating], spikes.n_units).astype(np.float64)
    n, duration, window = spikes.counts.astype(np.float64), spikes.duration, REFRACTORY_S - CENSORED_S
    with np.errstate(divide="ignore", invalid="ignore"):
        argument = 1 - n_v * (duration - 2 * n * CENSORED_S) / (n**2 * window)
        llobet = np.where(argument >= 0, 1 - np.sqrt(np.clip(argument, 0, None)), np.nan)
        hill = n_v * duration / (2 * n**2 * window)
    return {"n_isi_violations": n_v, "isi_contamination": llobet, "isi_contamination_hill": hill}


def _amplitude_cutoff(spikes: SortingSpikes, unit: np.ndarray) -> np.ndarray:
    """Allen/ecephys amplitude cutoff, every unit's histogram a row of one matrix."""
    n_units = spikes.n_units
    if spikes.amplitudes is None or n_units == 0:
        return np.full(n_units, np.nan)
    amplitudes = spikes.amplitudes
    finite = np.isfinite(amplitudes)
    low, high = _unit_range(unit[finite], amplitudes[finite], n_units)
    same = low == high
    low, high = np.where(same, low - 0.5, low), np.where(same, high + 0.5, high)  # numpy.histogram's rule
    bins = uniform_bin_index(amplitudes[finite], low[unit[finite]], high[unit[finite]], AMPLITUDE_BINS)
    counts = group_counts(unit[finite] * AMPLITUDE_BINS + bins, n_units * AMPLITUDE_BINS)
    histogram = counts.reshape(n_units, AMPLITUDE_BINS).astype(np.float64)
    width = (high - low) / AMPLITUDE_BINS
    with np.errstate(divide="ignore", invalid="ignore"):
        density = histogram / (histogram.sum(axis=1, keepdims=True) * width[:, None])
    pdf = gaussian_filter1d(density, AMPLITUDE_SMOOTHING, axis=1)  # mode 'reflect', as scipy's gaussian_filter
    columns = np.arange(AMPLITUDE_BINS)
    peak = np.argmax(pdf, axis=1)
    distance = np.where(columns >= peak[:, None], np.abs(pdf - pdf[:, :1]), np.inf)
    cutoff = np.argmin(distance, axis=1)
    missing = np.where(columns >= cutoff[:, None], pdf, 0.0).sum(axis=1) * width
    has_amplitudes = np.isfinite(low) & (group_counts(unit[finite], n_units) > 0)
    return np.where(has_amplitudes, np.minimum(missing, AMPLITUDE_CUTOFF_CAP), np.nan)


def _unit_range(unit: np.ndarray, values: np.ndarray, n_units: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-unit min and max of unit-sorted values (NaN for a unit without values), by ``reduceat`` over runs."""
    low, high = np.full(n_units, np.nan), np.full(n_units, np.nan)
    if len(values):
        starts = np.flatnonzero(np.concatenate([[True], unit[1:] != unit[:-1]]))
        low[unit[starts]] = np.minimum.reduceat(values, starts)
        high[unit[starts]] = np.maximum.reduceat(values, starts)
    return low, high


def _presence_ratio(spikes: SortingSpikes, unit: np.ndarray) -> np.ndarray:
    if spikes.duration <= 0:
        return np.full(spikes.n_units, np.nan)
    # in samples, so that a spike on a bin edge falls as numpy.histogram (and SpikeInterface) put it
    bins = uniform_bin_index(spikes.samples.astype(np.float64), 0.0, spikes.duration * spikes.sampling_rate,
                             PRESENCE_BINS)
    inside = bins >= 0
    counts = group_counts(unit[inside] * PRESENCE_BINS + bins[inside], spikes.n_units * PRESENCE_BINS)
    present = counts.reshape(spikes.n_units, PRESENCE_BINS) > PRESENCE_MIN_SPIKES
    return present.sum(axis=1) / PRESENCE_BINS


def _depth_drift(spikes: SortingSpikes, unit: np.ndarray, seconds: np.ndarray) -> dict[str, np.ndarray]:
    """Range, fluctuation and start-to-end change of the per-minute median depth."""
    names = ("depth_drift_range", "depth_drift_fluctuation", "depth_drift_start_to_end")
    n_units, duration = spikes.n_units, spikes.duration
    if spikes.depths is None or duration <= 0 or n_units == 0:
        return {name: np.full(n_units, np.nan) for name in names}
    n_bins = int(np.ceil(duration / DRIFT_BIN_S))
    valid = seconds >= 0
    bins = np.minimum(_bin_of(spikes, DRIFT_BIN_S)[valid], n_bins - 1)  # spikes after T: last bin
    groups, depths = unit[valid] * n_bins + bins, spikes.depths[valid]
    finite = np.isfinite(depths)
    counts = group_counts(groups[finite], n_units * n_bins).reshape(n_units, n_bins)
    medians = grouped_median(groups, depths, n_units * n_bins).reshape(n_units, n_bins)
    medians[counts <= DRIFT_MIN_SPIKES] = np.nan
    enough = np.isfinite(medians).sum(axis=1) >= DRIFT_MIN_BINS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows give NaN, as wanted
        spread = np.nanmax(medians, axis=1) - np.nanmin(medians, axis=1)
        edge = int(np.sum(np.arange(n_bins) * DRIFT_BIN_S < EDGE_FRACTION * duration))
        change = np.nanmedian(medians[:, n_bins - edge:], axis=1) - np.nanmedian(medians[:, :edge], axis=1)
    values = (spread, _mean_step(medians), change)
    return {name: np.where(enough, value, np.nan) for name, value in zip(names, values, strict=True)}


def _bin_of(spikes: SortingSpikes, bin_s: float) -> np.ndarray:
    """The index of the ``bin_s`` seconds bin of each spike, from the samples (exact on bin edges)."""
    return np.floor(spikes.samples / (bin_s * spikes.sampling_rate)).astype(np.int64)


def _mean_step(medians: np.ndarray) -> np.ndarray:
    """Mean absolute difference between consecutive finite values of each row (NaN gaps skipped)."""
    finite = np.isfinite(medians)
    columns = np.arange(medians.shape[1])
    last_seen = np.maximum.accumulate(np.where(finite, columns, -1), axis=1)
    previous = np.concatenate([np.full((len(medians), 1), -1), last_seen[:, :-1]], axis=1)
    has_step = finite & (previous >= 0)
    rows = np.nonzero(has_step)[0]
    steps = np.abs(medians[has_step] - medians[rows, previous[has_step]])
    total = np.bincount(rows, weights=steps, minlength=len(medians))
    number = np.bincount(rows, minlength=len(medians))
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / number


def _firing_range(spikes: SortingSpikes, unit: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    n_bins = int(spikes.duration // RATE_BIN_S)
    if n_bins < 1 or spikes.n_units == 0:
        return np.full(spikes.n_units, np.nan)
    bins = _bin_of(spikes, RATE_BIN_S)
    inside = (seconds >= 0) & (bins < n_bins)
    counts = group_counts(unit[inside] * n_bins + bins[inside], spikes.n_units * n_bins)
    rates = counts.reshape(spikes.n_units, n_bins) / RATE_BIN_S
    low, high = np.percentile(rates, RATE_PERCENTILES, axis=1)
    return high - low


def _amplitude_drift(spikes: SortingSpikes, unit: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    if spikes.amplitudes is None or spikes.duration <= 0:
        return np.full(spikes.n_units, np.nan)
    first = seconds < EDGE_FRACTION * spikes.duration
    last = seconds >= (1 - EDGE_FRACTION) * spikes.duration
    keep = first | last
    groups = unit[keep] * 2 + last[keep]
    medians = grouped_median(groups, spikes.amplitudes[keep], 2 * spikes.n_units).reshape(spikes.n_units, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return medians[:, 1] / medians[:, 0]
