"""Where each spike was on the probe (x, y in µm), computed from Kilosort's outputs as phy and ecephys do.

With ``pc_features.npy``: the centre of the spike's feature channels (``pc_feature_ind`` of its
template) weighted by the square of its first principal-component feature on each channel,
negative features counting as zero (phylib ``TemplateModel.get_depths``, ecephys
``_get_spike_depths``). A spike whose features are all zero or negative, and every spike of a
folder without ``pc_features.npy``, gets the centre of its template instead
(:func:`template_centres`).

Examples
--------
>>> positions = np.array([[0.0, 0.0], [0.0, 20.0], [0.0, 40.0]])
>>> features = np.array([[[1.0, 1.0]], [[0.0, -3.0]]], dtype=np.float32)       # 2 spikes, 1 PC, 2 channels
>>> feature_ind = np.array([[1, 2]])                                            # template 0: channels 1, 2
>>> fallback = np.array([[0.0, 5.0]])
>>> pc_feature_positions(features, feature_ind, np.array([0, 0]), positions, fallback).tolist()
[[0.0, 30.0], [0.0, 5.0]]
"""

from __future__ import annotations

import numpy as np

__all__ = ["CHUNK_SPIKES", "pc_feature_positions", "template_centres"]

CHUNK_SPIKES = 2**18  # spikes read at once from a memory-mapped pc_features.npy (64 MiB of first-PC weights)
FOOTPRINT_FRACTION = 0.2  # a channel is in a template's footprint when its peak-to-peak is this part of the peak's


def template_centres(ptp: np.ndarray, channel_positions: np.ndarray) -> np.ndarray:
    """The peak-to-peak-weighted centre of each template's footprint (T x 2).

    Parameters
    ----------
    ptp : ndarray
        Peak-to-peak amplitude of each unwhitened template on each channel (T x C).
    channel_positions : ndarray
        C x 2, µm.

    Notes
    -----
    Only channels whose peak-to-peak is at least 20 % of the template's largest count, so that the
    small values that unwhitening spreads over the whole probe do not pull the centre towards the
    middle of the probe. An all-zero template is placed on channel 0.
    """
    weights = np.where(ptp >= FOOTPRINT_FRACTION * ptp.max(axis=1, keepdims=True), ptp, 0.0)
    weights[weights.sum(axis=1) <= 0, 0] = 1.0
    return (weights @ channel_positions) / weights.sum(axis=1, keepdims=True)


def pc_feature_positions(features: np.ndarray, feature_ind: np.ndarray, spike_templates: np.ndarray,
                         channel_positions: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Each spike's position from its first PC feature on its template's feature channels (N x 2, float32).

    Parameters
    ----------
    features : ndarray
        ``pc_features.npy``: N x n_pcs x n_feature_channels (may be memory-mapped; read in chunks).
    feature_ind : ndarray
        ``pc_feature_ind.npy``: the channels (indices into ``channel_positions``) of each template's features.
    spike_templates : ndarray
        The template of each spike.
    channel_positions : ndarray
        C x 2, µm.
    fallback : ndarray
        T x 2: the position of a spike whose weights are all zero, by template.
    """
    positions = np.empty((len(spike_templates), 2), dtype=np.float32)
    feature_x, feature_y = (channel_positions[feature_ind][..., axis] for axis in (0, 1))  # T x channels each
    for start in range(0, len(spike_templates), CHUNK_SPIKES):
        stop = min(start + CHUNK_SPIKES, len(spike_templates))
        templates = spike_templates[start:stop]
        weights = np.maximum(np.asarray(features[start:stop, 0, :], dtype=np.float64), 0.0)
        weights *= weights
        total = weights.sum(axis=1)
        unweighted = total <= 0
        total[unweighted] = 1.0
        for axis, coordinate in enumerate((feature_x, feature_y)):
            located = np.einsum("sk,sk->s", weights, coordinate[templates]) / total
            located[unweighted] = fallback[templates[unweighted], axis]
            positions[start:stop, axis] = located
    return positions
