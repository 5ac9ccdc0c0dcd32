"""Shape metrics of median spike waveforms, every unit at once (reference §1.11).

Each unit's waveform (one channel, µV, ``n_pre`` samples before the spike) is upsampled
100× by quadratic interpolation (``scipy.interpolate.interp1d(kind='quadratic')`` over a
(units × samples) matrix). On the fine grid (times in ms from the spike):

* ``trough_time``, ``trough_amplitude``: the largest |value| within ±0.15 ms of the spike.
* ``polarity``: −1 when that trough is negative, 1 when positive.
* ``fw3m``: full width at 2/3 of the trough: from the last point before the trough to the
  first point after it where |value| ≤ 2/3 |trough| (ms; NaN when either side never drops).
* ``trough_gradient``, ``peak_gradient``: slope (µV/ms) at 0.07 ms and 0.5 ms after the trough.
* ``peak_time``, ``peak_amplitude``: the extremum of opposite sign after the first zero crossing
  that follows the trough (for the usual negative trough: the maximum after the waveform
  crosses zero; a positive trough is mirrored, where spks gave NaN).
* ``spike_duration``: peak_time − trough_time (ms; NaN without a peak).
* ``spike_amplitude``: peak-to-peak of the stored (not upsampled) waveform (µV).
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import interp1d

__all__ = ["SHAPE_METRICS", "UPSAMPLING", "waveform_shape_metrics"]

UPSAMPLING = 100
TROUGH_WINDOW_MS = 0.15
TROUGH_GRADIENT_MS, PEAK_GRADIENT_MS = 0.07, 0.5
WIDTH_FRACTION = 2 / 3

SHAPE_METRICS = ("trough_time", "trough_amplitude", "fw3m", "trough_gradient", "peak_gradient", "peak_time",
                 "peak_amplitude", "spike_duration", "polarity", "spike_amplitude")


def waveform_shape_metrics(waveforms: np.ndarray, n_pre: int, sampling_rate: float) -> dict[str, np.ndarray]:
    """Shape metrics of each row of ``waveforms`` (units × samples, µV).

    Parameters
    ----------
    waveforms : ndarray
        One median waveform per row, all of the same length (at least 3 samples).
    n_pre : int
        Samples before the spike time.
    sampling_rate : float
        Samples per second.

    Returns
    -------
    dict of str to ndarray
        One array of ``len(waveforms)`` values per name of :data:`SHAPE_METRICS`.
    """
    waveforms = np.atleast_2d(np.asarray(waveforms, dtype=np.float64))
    times = (np.arange(waveforms.shape[1]) - n_pre) / sampling_rate
    fine = np.linspace(times[0], times[-1], int((times[-1] - times[0]) * sampling_rate * UPSAMPLING))
    values = interp1d(times, waveforms, kind="quadratic", axis=1)(fine)
    fine_ms = fine * 1000
    rows = np.arange(len(values))
    trough = _trough_index(values, fine_ms)
    trough_amplitude, trough_time = values[rows, trough], fine_ms[trough]
    polarity = np.where(trough_amplitude < 0, -1, 1)
    peak = _peak_index(values * -polarity[:, None], trough)
    has_peak = peak >= 0
    peak_time = np.where(has_peak, fine_ms[np.maximum(peak, 0)], np.nan)
    duration = peak_time - trough_time
    return {"trough_time": trough_time, "trough_amplitude": trough_amplitude,
            "fw3m": _full_width(values, fine_ms, trough, trough_amplitude),
            "trough_gradient": _slope_after(values, fine_ms, trough_time + TROUGH_GRADIENT_MS),
            "peak_gradient": _slope_after(values, fine_ms, trough_time + PEAK_GRADIENT_MS),
            "peak_time": peak_time,
            "peak_amplitude": np.where(has_peak, values[rows, np.maximum(peak, 0)], np.nan),
            "spike_duration": np.where(duration == 0, np.nan, duration),
            "polarity": polarity,
            "spike_amplitude": waveforms.max(axis=1) - waveforms.min(axis=1)}


def _trough_index(values: np.ndarray, fine_ms: np.ndarray) -> np.ndarray:
    """Index of the largest |value| within ±0.15 ms of the spike (the whole waveform if that window is empty)."""
    window = np.flatnonzero((fine_ms >= -TROUGH_WINDOW_MS) & (fine_ms <= TROUGH_WINDOW_MS))
    if not len(window):
        window = np.arange(len(fine_ms))
    return window[0] + np.argmax(np.abs(values[:, window[0]:window[-1] + 1]), axis=1)


def _full_width(values: np.ndarray, fine_ms: np.ndarray, trough: np.ndarray, amplitude: np.ndarray) -> np.ndarray:
    below = np.abs(values) <= np.abs(WIDTH_FRACTION * amplitude)[:, None]
    columns = np.arange(values.shape[1])
    before = below & (columns <= trough[:, None])
    after = below & (columns >= trough[:, None])
    last_before = values.shape[1] - 1 - np.argmax(before[:, ::-1], axis=1)
    first_after = np.argmax(after, axis=1)
    width = fine_ms[first_after] - fine_ms[last_before]
    return np.where(before.any(axis=1) & after.any(axis=1), width, np.nan)


def _slope_after(values: np.ndarray, fine_ms: np.ndarray, at_ms: np.ndarray) -> np.ndarray:
    """Slope between the first fine sample at or after ``at_ms`` and the next one (NaN past the end)."""
    index = np.searchsorted(fine_ms, at_ms, side="left")
    inside = index + 1 < len(fine_ms)
    index = np.where(inside, index, 0)
    rows = np.arange(len(values))
    slope = (values[rows, index + 1] - values[rows, index]) / (fine_ms[index + 1] - fine_ms[index])
    return np.where(inside, slope, np.nan)


def _peak_index(flipped: np.ndarray, trough: np.ndarray) -> np.ndarray:
    """On waveforms made trough-negative: index of the maximum after the first sample ≥ 0 past the trough (-1: none)."""
    columns = np.arange(flipped.shape[1])
    crossed = (flipped >= 0) & (columns >= trough[:, None])
    has_crossing = crossed.any(axis=1)
    crossing = np.argmax(crossed, axis=1)
    after = np.where(columns >= crossing[:, None], flipped, -np.inf)
    return np.where(has_crossing, np.argmax(after, axis=1), -1)
