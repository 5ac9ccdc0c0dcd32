"""Median waveforms of the units of a Kilosort sorting, from its templates (no raw data needed).

A Kilosort template lives in whitened space; ``templates @ whitening_mat_inv`` puts it back in the
units of the sorted data file (ecephys ``load_kilosort_data``), and a spike is about its
amplitude (``amplitudes.npy``) times its unwhitened template. The median waveform of a unit is
therefore its unwhitened template times the median amplitude of its spikes, times the gain
(µV per bit) when one is given. A unit that phy made from several templates (a merge or a
split: ``spike_clusters.npy`` differs from ``spike_templates.npy``) gets the spike-count-weighted
mean of its templates.

Kept channels, as the original's ``SpikeSorting.Waveforms``: the active electrodes (peak-to-peak
at least 20 % of the unit's largest, the footprint threshold of the original's unit metrics, which
here has no noise term since a template has no noise) and every channel within 50 µm of one.

Examples
--------
>>> group_medians(np.array([3.0, 1.0, 2.0, 10.0, 20.0]), np.array([0, 3, 5])).tolist()
[2.0, 15.0]
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

__all__ = ["KEPT_RADIUS_UM", "UnitWaveform", "group_medians", "template_weights", "unit_waveforms",
           "kept_waveforms", "unwhitened_templates"]

KEPT_RADIUS_UM = 50.0
ACTIVE_FRACTION = 0.2


@dataclass(frozen=True, eq=False)
class UnitWaveform:
    """The median waveform of one unit.

    Attributes
    ----------
    median : ndarray
        float32, samples x kept channels (µV when a gain was given, else units of the data file).
    channels : ndarray
        int16, the kept channels as indices into the sorting's channels (``channel_map`` order).
    ptp : ndarray
        float32, the peak-to-peak of the median on every channel of the sorting.
    noise : float, optional
        Noise of the median (µV; from raw snippets only, a template has none).
    """

    median: np.ndarray
    channels: np.ndarray
    ptp: np.ndarray
    noise: float | None = None


def unwhitened_templates(templates: np.ndarray, whitening_inv: np.ndarray) -> np.ndarray:
    """``templates @ whitening_mat_inv``: T x samples x C, float32, in the units of the sorted data file.

    Only the channels where a template is not zero are multiplied: Kilosort 2.x writes each template
    on 32 channels of a dense array, so this is C/32 times fewer operations than the dense product.
    """
    inverse = np.asarray(whitening_inv, dtype=np.float32)
    unwhitened = np.empty(templates.shape, dtype=np.float32)
    for index, template in enumerate(np.asarray(templates, dtype=np.float32)):
        used = np.flatnonzero(np.any(template != 0, axis=0))
        np.matmul(template[:, used], inverse[used], out=unwhitened[index])
    return unwhitened


def group_medians(grouped: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The median of each group of ``grouped`` (values sorted by group; group ``i`` is ``offsets[i]:offsets[i+1]``).

    One partial sort per group: linear in the values, where one sort of them all is not.
    """
    return np.array([np.median(grouped[start:stop]) if stop > start else np.nan
                     for start, stop in itertools.pairwise(offsets)], dtype=np.float64)


def template_weights(unit_index: np.ndarray, spike_templates: np.ndarray, n_units: int,
                     n_templates: int) -> np.ndarray:
    """U x T: the fraction of each unit's spikes that each template found."""
    counts = np.bincount(unit_index * n_templates + spike_templates, minlength=n_units * n_templates)
    counts = counts.reshape(n_units, n_templates).astype(np.float64)
    return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)


def unit_waveforms(unwhitened: np.ndarray, weights: np.ndarray, amplitudes: np.ndarray,
                   channel_positions: np.ndarray, gain: float) -> list[UnitWaveform]:
    """The median waveform, kept channels and peak-to-peak of each unit.

    Parameters
    ----------
    unwhitened : ndarray
        T x samples x C unwhitened templates.
    weights : ndarray
        U x T, from :func:`template_weights`.
    amplitudes : ndarray
        The median spike amplitude of each unit (U).
    channel_positions : ndarray
        C x 2, µm.
    gain : float
        µV per unit of the data file (1.0 keeps the file's units).
    """
    n_templates, n_samples, n_channels = unwhitened.shape
    flat = unwhitened.reshape(n_templates, n_samples * n_channels)
    scale = (amplitudes * gain).astype(np.float32)[:, None]
    medians = ((weights.astype(np.float32) @ flat) * scale).reshape(-1, n_samples, n_channels)
    return kept_waveforms(medians, channel_positions)


def kept_waveforms(medians: np.ndarray, channel_positions: np.ndarray,
                   noise: np.ndarray | None = None) -> list[UnitWaveform]:
    """Each unit's median on its kept channels (active ones and those within 50 µm of one).

    Parameters
    ----------
    medians : ndarray
        U x samples x C medians on every channel.
    channel_positions : ndarray
        C x 2, µm.
    noise : ndarray, optional
        The noise of each median (U), kept with it.
    """
    ptp = np.ptp(medians, axis=1)
    active = ptp >= ACTIVE_FRACTION * ptp.max(axis=1, keepdims=True)
    near = np.linalg.norm(channel_positions[:, None, :] - channel_positions[None, :, :], axis=2) <= KEPT_RADIUS_UM
    kept = (active.astype(np.float32) @ near.astype(np.float32)) > 0
    waveforms = []
    for unit in range(len(medians)):
        channels = np.flatnonzero(kept[unit])
        waveforms.append(UnitWaveform(median=np.ascontiguousarray(medians[unit][:, channels]),
                                      channels=channels.astype(np.int16), ptp=ptp[unit].astype(np.float32),
                                      noise=None if noise is None else float(noise[unit])))
    return waveforms
