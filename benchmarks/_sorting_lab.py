"""labdata side of ``sorting.py``: a lake of sortings, its inserts and fetches, through the public API only.

:class:`LabdataSide` opens a lake (SQLite catalog in a local folder) with a
:class:`~labdata.catalog.Context` that carries its own preferences, whose
``storage.data`` and ``storage.analysis`` are local folders (:func:`local_preferences`)
or a bucket (``_sorting_s3.py``), so that where the arrays go is decided by the
preferences and never by the user's ``~/labdata``. It inserts the parents and
the ``SpikeSorting.Unit`` rows of :mod:`_sorting_rows` with ``insert``, and
times the fetch shapes with ``fetch`` (and ``get_spike_times`` where
``SpikeSorting.Unit`` has it). :func:`dj_definitions` exports labdata's definition
strings for the DataJoint side. Nothing below ``labdata.catalog``,
``labdata.schema`` and ``labdata.core.config`` is imported.

Not a script, used by ``sorting.py``; run the benchmark with
``python benchmarks/sorting.py [--small]``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import _sorting_rows as rows
import labdata.schema as tables
from labdata.catalog import Context, Lake, use
from labdata.core.config import Preferences

__all__ = ["PROJECT", "LabdataSide", "count_spikes", "dj_definitions", "drop_from_cache", "local_preferences"]

PROJECT = "bench"
#: the tables the DataJoint side declares (parents first) and the parts it needs
DJ_TABLES = {"SetupLocation": (), "Setup": (), "LabMember": (), "Species": (), "Strain": (), "File": (),
             "AnalysisFile": (), "Subject": (), "Note": (), "Session": (), "DatasetType": (), "Dataset": (),
             "Probe": (), "ProbeConfiguration": (), "EphysRecording": ("ProbeSetting",),
             "SpikeSortingParams": (), "SpikeSorting": ("Unit",)}
DIRECT = ("EphysRecording", "EphysRecording.ProbeSetting")  # Imported tables, filled directly here


def dj_definitions() -> list[dict[str, Any]]:
    """labdata's declarations of :data:`DJ_TABLES`: name, tier, definition, contents, parts."""
    out = []
    for name, parts in DJ_TABLES.items():
        cls = getattr(tables, name)
        out.append({"name": name, "tier": cls.tier, "definition": cls.definition,
                    "contents": [list(r) for r in getattr(cls, "contents", ()) or ()],
                    "parts": {p: getattr(cls, p).definition for p in parts}})
    return out


def local_preferences(folder: Path) -> Preferences:
    """Preferences kept in ``folder`` whose ``data`` and ``analysis`` storages are local folders there."""
    prefs = Preferences.load(folder / "preferences.json", environ={"LABDATA_PATH": str(folder / "labdata")})
    prefs.set("local_paths", [str(folder / "local")])
    prefs.set("scratch_path", str(folder / "scratch"))
    for storage in ("data", "analysis"):
        (folder / storage).mkdir(parents=True, exist_ok=True)
        prefs.set(f"storage.{storage}", {"protocol": "local", "folder": str(folder / storage)})
    return prefs


def drop_from_cache(*folders: Path) -> None:
    """Write back, then drop every file under ``folders`` from the page cache (the next read hits the disk)."""
    os.sync()
    for folder in folders:
        for path in Path(folder).rglob("*"):
            if path.is_file():
                descriptor = os.open(path, os.O_RDONLY)
                try:
                    os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
                finally:
                    os.close(descriptor)


def load_into_cache(*folders: Path) -> None:
    """Read every file under ``folders`` once, so that warm calls find all sides' files in the page cache."""
    for folder in folders:
        for path in Path(folder).rglob("*"):
            if path.is_file():
                try:
                    with open(path, "rb") as source:
                        while source.read(1 << 23):
                            pass
                except OSError:
                    continue


def count_spikes(found: Any) -> tuple[int, int]:
    """(rows, spikes) of what a fetch returned: arrays, dicts with ``spike_times``, or a dict of arrays."""
    if isinstance(found, dict):
        found = list(found.values())
    items = list(found)
    spikes = 0
    for item in items:
        value = item.get("spike_times") if isinstance(item, dict) else item
        spikes += int(np.size(value)) if value is not None else 0
    return len(items), spikes


def _table(name: str) -> Any:
    owner, _, part = name.partition(".")
    cls = getattr(tables, owner)
    return getattr(cls, part) if part else cls


class LabdataSide:
    """A lake of sortings under ``root`` with the preferences ``prefs``, timed through the public API."""

    def __init__(self, root: Path, prefs: Preferences, lab: rows.Lab, fetch_units: int = 1000) -> None:
        self.root, self.prefs, self.lab, self.fetch_units = Path(root), prefs, lab, fetch_units
        self.lake: Lake | None = None
        self.context: Context | None = None
        self.reopen()

    def reopen(self) -> None:
        """Close the lake handle and open a fresh one (no replica, no open arrays: the next fetch is cold)."""
        self.close()
        self.lake = Lake("sqlite", self.root)
        self.context = Context(self.lake, PROJECT, self.prefs)

    def close(self) -> None:
        """Close the lake handle."""
        if self.lake is not None:
            self.lake.close()
            self.lake = None

    def _use(self) -> Any:
        assert self.context is not None
        return use(self.context)

    def fill_parents(self) -> None:
        """Insert every row above the units."""
        with self._use():
            for name, values in self.lab.parents():
                _table(name).insert(values, **({"allow_direct_insert": True} if name in DIRECT else {}))

    def insert(self, values: list[dict[str, Any]]) -> float:
        """Seconds of ``SpikeSorting.Unit.insert(values)``."""
        with self._use():
            start = time.perf_counter()
            tables.SpikeSorting.Unit.insert(values)
            return time.perf_counter() - start

    def has_spike_times_method(self) -> bool:
        """Whether ``SpikeSorting.Unit`` has the lead's ``get_spike_times``."""
        return hasattr(tables.SpikeSorting.Unit, "get_spike_times")

    def fetch(self, shape: str, draw: int) -> dict[str, Any]:
        """Time one shape (``units``, ``units-key``, ``session``, ``session-get``) on draw ``draw``."""
        unit = tables.SpikeSorting.Unit
        with self._use():
            call = self._call(unit, shape, draw)
            start = time.perf_counter()
            found = call()
            seconds = time.perf_counter() - start
        n, spikes = count_spikes(found)
        return {"seconds": seconds, "rows": n, "spikes": spikes}

    def _call(self, unit: Any, shape: str, draw: int) -> Callable[[], Any]:
        if shape in ("session", "session-get"):
            _, key = rows.session_keys(self.lab, draw)
            if shape == "session-get":
                return lambda: (unit & key).get_spike_times()  # noqa: PLW0108 - restricting is timed too
            return lambda: (unit & key).fetch(as_dict=True)
        keys = rows.unit_keys(self.lab, rows.sample_units(self.lab, self.fetch_units, draw))
        if shape == "units-key":
            keys = (unit & keys).fetch("KEY")
        return lambda: (unit & keys).fetch("spike_times")
