"""A unit's footprint on the probe: its active electrodes, position and extent (reference §1.11).

The peak channel is the channel of largest peak-to-peak amplitude (ptp). A channel passes
when its ptp is at least ``max(0.2 ptp_peak, 10 waveform_noise)``. The active electrodes are
the passing channels reachable from the peak through the probe's neighbour graph, a path
being allowed to step over one non-passing channel at a time. The neighbour graph has the
edges of the Delaunay triangulation of the channel positions that are no longer than 3×
the median nearest-neighbour distance (channels on a line: consecutive channels).

Examples
--------
>>> import numpy as np
>>> coords = np.column_stack([np.zeros(6), np.arange(6) * 20.0])
>>> graph = neighbour_graph(coords)
>>> ptp = np.array([[0.0, 50.0, 100.0, 5.0, 40.0, 1.0]])
>>> footprints(ptp, np.array([1.0]), coords, graph)[0].active.tolist()
[1, 2, 4]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import Delaunay, QhullError, cKDTree
from scipy.spatial.distance import pdist

__all__ = ["Footprint", "footprints", "neighbour_graph"]

PEAK_FRACTION = 0.2
NOISE_MULTIPLE = 10.0
EDGE_LENGTH_MULTIPLE = 3.0


@dataclass(frozen=True)
class Footprint:
    """Where a unit is: active channels (indices into the sorting's channels), peak, position, span."""

    active: np.ndarray
    peak: int
    position: np.ndarray
    span_um: float


def neighbour_graph(coords: np.ndarray) -> np.ndarray:
    """Adjacency (bool, channels × channels) of the Delaunay edges no longer than 3× the median nearest distance.

    Parameters
    ----------
    coords : ndarray
        Channel positions, channels × 2 (µm).

    Returns
    -------
    ndarray of bool
        Symmetric, with a False diagonal.
    """
    coords = np.asarray(coords, dtype=np.float64)
    n = len(coords)
    adjacency = np.zeros((n, n), dtype=bool)
    if n < 2:
        return adjacency
    pairs = _delaunay_pairs(coords)
    nearest = cKDTree(coords).query(coords, k=2)[0][:, 1]
    limit = EDGE_LENGTH_MULTIPLE * np.median(nearest)
    length = np.linalg.norm(coords[pairs[:, 0]] - coords[pairs[:, 1]], axis=1)
    kept = pairs[length <= limit]
    adjacency[kept[:, 0], kept[:, 1]] = adjacency[kept[:, 1], kept[:, 0]] = True
    return adjacency


def _delaunay_pairs(coords: np.ndarray) -> np.ndarray:
    """Edges (pairs of channel indices) of the triangulation; consecutive channels when they lie on a line."""
    unique = np.unique(coords, axis=0)
    if len(unique) >= 3 and np.linalg.matrix_rank(unique - unique.mean(axis=0)) == 2:
        try:
            simplices = Delaunay(coords).simplices
        except QhullError:
            simplices = None
        if simplices is not None:
            edges = np.concatenate([simplices[:, [0, 1]], simplices[:, [1, 2]], simplices[:, [0, 2]]])
            return np.unique(np.sort(edges, axis=1), axis=0)
    direction = unique[-1] - unique[0] if len(unique) > 1 else np.array([0.0, 1.0])
    order = np.argsort(coords @ direction, kind="stable")
    return np.column_stack([order[:-1], order[1:]])


def footprints(ptp: np.ndarray, noise: np.ndarray, coords: np.ndarray, graph: np.ndarray) -> list[Footprint]:
    """The footprint of each unit.

    Parameters
    ----------
    ptp : ndarray
        Units × channels peak-to-peak amplitudes (µV) on every channel of the sorting.
    noise : ndarray
        Noise of each unit's median waveform (µV; NaN when unknown: the noise bound is dropped).
    coords : ndarray
        Channel positions, channels × 2 (µm).
    graph : ndarray of bool
        :func:`neighbour_graph` of ``coords``.

    Returns
    -------
    list of Footprint
        One per unit (a unit whose ptp is all zero has only its peak channel).
    """
    peaks = np.argmax(ptp, axis=1)
    peak_ptp = ptp[np.arange(len(ptp)), peaks]
    thresholds = np.fmax(PEAK_FRACTION * peak_ptp, NOISE_MULTIPLE * np.asarray(noise, dtype=np.float64))
    passing = ptp >= thresholds[:, None]
    passing[np.arange(len(ptp)), peaks] = True  # the reach starts from the peak
    return [_footprint(unit_ptp, int(peak), unit_passing, coords, graph)
            for unit_ptp, peak, unit_passing in zip(ptp, peaks, passing, strict=True)]


def _footprint(ptp: np.ndarray, peak: int, passing: np.ndarray, coords: np.ndarray, graph: np.ndarray) -> Footprint:
    candidates = np.flatnonzero(passing)
    gaps = np.flatnonzero(~passing)
    direct = graph[np.ix_(candidates, candidates)]
    through_gap = graph[np.ix_(candidates, gaps)].astype(np.int32) @ graph[np.ix_(gaps, candidates)].astype(np.int32)
    _, labels = connected_components(csr_matrix(direct | (through_gap > 0)), directed=False)
    active = candidates[labels == labels[np.searchsorted(candidates, peak)]]
    weights = ptp[active]
    position = (weights @ coords[active]) / weights.sum() if weights.sum() > 0 else coords[peak].astype(np.float64)
    span = float(pdist(coords[active]).max()) if len(active) > 1 else 0.0
    return Footprint(active.astype(np.int64), peak, np.asarray(position, dtype=np.float64), span)
