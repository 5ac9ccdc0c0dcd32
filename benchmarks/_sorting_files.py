"""The ``.npy`` baselines of ``sorting.py``: the same arrays as files, saved and loaded with numpy.

Two layouts of the lab of :mod:`_sorting_rows`, each on a local folder or on a
bucket (``_sorting_s3.py`` passes its own ``put`` and ``get``):

* :class:`UnitFiles`, one file per unit and array:
  ``units/<sorting>/<unit>_spike_times.npy`` (and ``_spike_amplitudes``, ``_spike_positions``);
* :class:`PhyFiles`, phy's files per sorting: ``phy/<sorting>/spike_times.npy``,
  ``spike_clusters.npy``, ``amplitudes.npy``, ``spike_positions.npy``, every
  spike of the sorting in time order, as Kilosort writes them.

``fetch(shape, draw)`` loads what the labdata shape of the same name returns:
``units`` the spike times of the sampled units (phy: ``spike_times`` and
``spike_clusters`` of every sorting touched, then each unit's spikes by mask),
``session`` one sorting's units as dicts with their three arrays.

Not a script, used by ``sorting.py``; run the benchmark with
``python benchmarks/sorting.py [--small]``.
"""

from __future__ import annotations

import io
import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import _sorting_rows as rows

__all__ = ["FileStore", "PhyFiles", "UnitFiles", "local_store"]

ARRAYS = ("spike_times", "spike_amplitudes", "spike_positions")
Arrays = list[tuple[np.ndarray, np.ndarray, np.ndarray]]


class FileStore:
    """Where files go: ``put(relative path, array)`` and ``get(relative path) -> array``."""

    def __init__(self, put: Callable[[str, np.ndarray], None], get: Callable[[str], np.ndarray]) -> None:
        self.put, self.get = put, get


def local_store(root: Path) -> FileStore:
    """``np.save`` / ``np.load`` under ``root``."""

    def put(relative: str, array: np.ndarray) -> None:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, array)

    return FileStore(put, lambda relative: np.load(root / relative))


def npy_bytes(array: np.ndarray) -> bytes:
    """The bytes ``np.save`` writes for ``array``."""
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


class UnitFiles:
    """One ``.npy`` file per unit and array."""

    label = "np.load, a .npy per unit"

    def __init__(self, store: FileStore, lab: rows.Lab, fetch_units: int = 1000) -> None:
        self.store, self.lab, self.fetch_units = store, lab, fetch_units

    @staticmethod
    def path(sorting: int, unit: int, name: str) -> str:
        return f"units/{sorting:05d}/{unit:03d}_{name}.npy"

    def save(self, sorting: int, arrays: Arrays) -> float:
        """Seconds to save every array of a sorting's units."""
        start = time.perf_counter()
        for unit, values in enumerate(arrays):
            for name, value in zip(ARRAYS, values, strict=True):
                self.store.put(self.path(sorting, unit, name), value)
        return time.perf_counter() - start

    def fetch(self, shape: str, draw: int) -> dict[str, Any]:
        """Time one shape (``units`` or ``session``) on draw ``draw``."""
        get = self.store.get
        if shape == "session":
            sorting, _ = rows.session_keys(self.lab, draw)
            key = self.lab.sorting_key(sorting)
            start = time.perf_counter()
            found = [key | {"unit_id": u} | {n: get(self.path(sorting, u, n)) for n in ARRAYS}
                     for u in range(self.lab.units)]
            seconds = time.perf_counter() - start
            return _result(seconds, [r["spike_times"] for r in found])
        pairs = rows.sample_units(self.lab, self.fetch_units, draw)
        start = time.perf_counter()
        times = [get(self.path(s, u, "spike_times")) for s, u in pairs]
        return _result(time.perf_counter() - start, times)


class PhyFiles:
    """phy's per-sorting files: all spikes of a sorting in time order, with their cluster ids."""

    label = "np.load, phy files per sorting"
    NAMES = ("spike_times", "spike_clusters", "amplitudes", "spike_positions")

    def __init__(self, store: FileStore, lab: rows.Lab, fetch_units: int = 1000) -> None:
        self.store, self.lab, self.fetch_units = store, lab, fetch_units

    @staticmethod
    def path(sorting: int, name: str) -> str:
        return f"phy/{sorting:05d}/{name}.npy"

    def save(self, sorting: int, arrays: Arrays) -> float:
        """Seconds to gather a sorting's spikes in time order and save phy's four files."""
        start = time.perf_counter()
        times = np.concatenate([t for t, _, _ in arrays])
        order = np.argsort(times, kind="stable")
        clusters = np.repeat(np.arange(len(arrays), dtype=np.int32), [len(t) for t, _, _ in arrays])
        values = (times[order], clusters[order], np.concatenate([a for _, a, _ in arrays])[order],
                  np.concatenate([p for _, _, p in arrays])[order])
        for name, value in zip(self.NAMES, values, strict=True):
            self.store.put(self.path(sorting, name), value)
        return time.perf_counter() - start

    def fetch(self, shape: str, draw: int) -> dict[str, Any]:
        """Time one shape (``units`` or ``session``) on draw ``draw``."""
        if shape == "session":
            sorting, _ = rows.session_keys(self.lab, draw)
            start = time.perf_counter()
            found = self._session(sorting)
            return _result(time.perf_counter() - start, [r["spike_times"] for r in found])
        by_sorting: dict[int, list[int]] = {}
        for s, u in rows.sample_units(self.lab, self.fetch_units, draw):
            by_sorting.setdefault(s, []).append(u)
        start = time.perf_counter()
        times = []
        for sorting, wanted in by_sorting.items():
            spikes = self.store.get(self.path(sorting, "spike_times"))
            clusters = self.store.get(self.path(sorting, "spike_clusters"))
            times += [spikes[clusters == u] for u in wanted]
        return _result(time.perf_counter() - start, times)

    def _session(self, sorting: int) -> list[dict[str, Any]]:
        spikes, clusters, amplitudes, positions = (self.store.get(self.path(sorting, n)) for n in self.NAMES)
        order = np.argsort(clusters, kind="stable")
        bounds = np.searchsorted(clusters[order], np.arange(self.lab.units + 1))
        key = self.lab.sorting_key(sorting)
        return [key | {"unit_id": u, "spike_times": spikes[order[a:b]], "spike_amplitudes": amplitudes[order[a:b]],
                       "spike_positions": positions[order[a:b]]}
                for u, (a, b) in enumerate(itertools.pairwise(bounds))]


def _result(seconds: float, times: list[np.ndarray]) -> dict[str, Any]:
    return {"seconds": seconds, "rows": len(times), "spikes": int(sum(len(t) for t in times))}
