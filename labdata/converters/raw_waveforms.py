"""Median waveforms of units from the raw recording (the original's ``SpikeSorting.Waveforms``).

For each unit, up to ``max_spikes`` spikes are taken (half from each half of the recording, at
random with a fixed seed), a snippet of ``n_pre + n_post`` samples is cut around each from the
recording (read block by block, never whole), and the median over snippets times the gain is the
unit's median waveform (µV). The kept channels are those of
:func:`labdata.converters.kilosort.waveforms.kept_waveforms`. The noise of the median (§1.11): the
snippets are split at random in two halves; it is half the median over channels of the per-channel
standard deviation of the difference of the two halves' medians.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from labdata.converters.kilosort.waveforms import UnitWaveform, kept_waveforms

__all__ = ["median_waveforms"]

_BLOCK = 1 << 18  # samples read at a time
_MEMORY = 1 << 29  # bytes of snippets held at once (units are taken in batches; the recording is read per batch)


def median_waveforms(read: Callable[[int, int], np.ndarray], n_total: int, spike_trains: Sequence[np.ndarray], *,
                     channel_positions: np.ndarray, gain: float, n_pre: int = 30, n_post: int = 60,
                     max_spikes: int = 1000, seed: int = 0) -> list[UnitWaveform]:
    """Median waveform (µV), kept channels, peak-to-peak and noise of each unit.

    Parameters
    ----------
    read : callable
        ``read(start, stop)`` → samples × channels of the recording (the sorting's channels).
    n_total : int
        Samples in the recording.
    spike_trains : sequence of ndarray
        Each unit's spike samples.
    channel_positions : ndarray
        Channels × 2, µm.
    gain : float
        µV per bit.
    """
    rng = np.random.default_rng(seed)
    chosen = [_chosen(np.asarray(t, dtype=np.int64), n_total, n_pre, n_post, max_spikes, rng) for t in spike_trains]
    width = (n_pre + n_post) * len(channel_positions) * 2  # bytes of one int16 snippet
    medians, noise = [], []
    for batch in _batches([len(c) for c in chosen], _MEMORY // width):  # the recording is read once per batch
        for snippets in _snippets(read, n_total, [chosen[u] for u in batch], n_pre, n_post, len(channel_positions)):
            medians.append(np.median(snippets, axis=0) * gain if len(snippets) else
                           np.zeros((n_pre + n_post, len(channel_positions))))
            noise.append(_noise(snippets, gain, rng))
    return kept_waveforms(np.stack(medians).astype(np.float32), np.asarray(channel_positions, dtype=np.float64),
                          np.array(noise))


def _batches(counts: list[int], most: int) -> list[list[int]]:
    """Consecutive units whose snippets together stay under ``most``."""
    batches: list[list[int]] = [[]]
    total = 0
    for unit, count in enumerate(counts):
        if batches[-1] and total + count > most:
            batches.append([])
            total = 0
        batches[-1].append(unit)
        total += count
    return batches


def _chosen(times: np.ndarray, n_total: int, n_pre: int, n_post: int, most: int,
            rng: np.random.Generator) -> np.ndarray:
    inside = times[(times >= n_pre) & (times + n_post <= n_total)]
    halves = [inside[inside < n_total // 2], inside[inside >= n_total // 2]]
    picked = [h if len(h) <= most // 2 else rng.choice(h, most // 2, replace=False) for h in halves]
    return np.sort(np.concatenate(picked))


def _snippets(read: Callable[[int, int], np.ndarray], n_total: int, chosen: list[np.ndarray], n_pre: int,
              n_post: int, n_channels: int) -> list[np.ndarray]:
    """Per unit, its snippets (spikes × samples × channels, int16), reading the recording block by block."""
    times = np.concatenate(chosen) if chosen else np.empty(0, np.int64)
    owner = np.repeat(np.arange(len(chosen)), [len(c) for c in chosen])
    order = np.argsort(times, kind="stable")
    found: list[list[np.ndarray]] = [[] for _ in chosen]
    for start in range(0, n_total, _BLOCK):
        lo, hi = np.searchsorted(times[order], [start, start + _BLOCK])
        if lo == hi:
            continue
        picked = order[lo:hi]
        block = read(max(start - n_pre, 0), min(start + _BLOCK + n_post, n_total))
        first = max(start - n_pre, 0)
        windows = (times[picked] - n_pre - first)[:, None] + np.arange(n_pre + n_post)
        cut = block[windows]
        for unit in np.unique(owner[picked]):
            found[unit].append(cut[owner[picked] == unit])
    return [np.concatenate(f) if f else np.zeros((0, n_pre + n_post, n_channels), np.int16) for f in found]


def _noise(snippets: np.ndarray, gain: float, rng: np.random.Generator) -> float:
    if len(snippets) < 4:
        return float("nan")
    halves = np.array_split(rng.permutation(len(snippets)), 2)
    difference = np.median(snippets[halves[0]], axis=0) - np.median(snippets[halves[1]], axis=0)
    return float(np.median(np.std(difference * gain, axis=0)) / 2)
