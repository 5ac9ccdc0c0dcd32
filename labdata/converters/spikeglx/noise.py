"""Per-channel noise statistics of an AP recording (EphysRecordingNoiseStats), as the original computed them.

Two windows of ``duration`` seconds: ``[d, 2d]`` from the start and ``[-2d, -d]`` from the
end, with ``d`` halved until both fit in the recording. For each connected channel, in
microvolts: median, max, min, peak-to-peak and the unscaled median absolute deviation.
Column 0 is the head window, column 1 the tail window.

Examples
--------
>>> stats = noise_stats(reader, 30000.0, gains, channel_idx, duration=30)   # doctest: +SKIP
>>> stats["channel_mad"].shape                                              # doctest: +SKIP
(384, 2)
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["STAT_NAMES", "noise_stats", "noise_windows"]

STAT_NAMES = ("channel_median", "channel_max", "channel_min", "channel_peak_to_peak", "channel_mad")


def noise_windows(n_samples: int, rate: float, duration: float = 30.0) -> list[tuple[int, int]]:
    """The (start, stop) samples of the head and tail windows."""
    d = duration
    while 4 * d * rate > n_samples and d * rate > 2:
        d /= 2
    width = int(d * rate)
    return [(width, 2 * width), (max(0, n_samples - 2 * width), max(width, n_samples - width))]


def noise_stats(reader: Any, rate: float, gains: np.ndarray, channel_idx: np.ndarray,
                duration: float = 30.0) -> dict[str, np.ndarray]:
    """Statistics of the connected channels ``channel_idx`` (columns of ``reader``), scaled by ``gains`` (uV/bit).

    ``reader`` is anything sliced as ``reader[start:stop, columns]`` (a memmap of the
    ``.bin``, a :class:`~labdata.converters.spikeglx.reader.RawRecording`).
    """
    channel_idx = np.asarray(channel_idx, dtype=int)
    scale = np.asarray(gains, dtype=np.float64)[channel_idx]
    columns: dict[str, list[np.ndarray]] = {name: [] for name in STAT_NAMES}
    for start, stop in noise_windows(reader.shape[0], rate, duration):
        window = np.asarray(reader[start:stop, channel_idx]).astype(np.float32) * scale.astype(np.float32)
        median = np.median(window, axis=0)
        high, low = window.max(axis=0), window.min(axis=0)
        columns["channel_median"].append(median)
        columns["channel_max"].append(high)
        columns["channel_min"].append(low)
        columns["channel_peak_to_peak"].append(high - low)
        columns["channel_mad"].append(np.median(np.abs(window - median), axis=0))
    return {name: np.stack(values, axis=1).astype(np.float32) for name, values in columns.items()}
