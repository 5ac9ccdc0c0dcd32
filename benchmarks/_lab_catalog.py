"""Build (or reopen) the lab-scale labdata catalog used by ``catalog_query.py``.

The rows come from :mod:`_lab_rows` (seeded, numpy only). The tables are
created through the API (touching ``Subject`` creates every declared table),
then each table is bulk-loaded with raw DuckDB in one write transaction:
``INSERT INTO lake.<schema>.<table> BY NAME SELECT * FROM src`` from a
registered Arrow table, in chunks of at most a million rows, so loading
5,000,000 units takes seconds instead of going through ``Table.insert``'s
per-value coercion. Blob attributes that hold one array in every row are
encoded once with :func:`labdata.catalog.ops.blobs.encode_blob` and bound as a
parameter. The lake is kept under ``<path>/scale-<scale>`` with a
``built.json`` marker and reused by later runs unless asked to rebuild.

Also exports the declarations the DataJoint baseline needs
(:func:`dj_definitions`), so both sides declare the same names, keys and
columns. Not a script, used by ``catalog_query.py``; run the benchmark with
``python benchmarks/catalog_query.py [--scale S] [--dj-scale S]``.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from tqdm import tqdm

import _lab_rows as rows
from labdata.catalog import Context, Lake, use
from labdata.catalog.ops.blobs import encode_blob
from labdata.schema import registry

__all__ = ["DJ_TABLES", "Catalog", "dj_definitions", "open_catalog"]

PROJECT = "bench"
CHUNK = 1_000_000
FORMAT = 2  # bump when _lab_rows or the loading changes, to rebuild cached lakes
# the tables the DataJoint side declares (parents first), with the parts it needs
DJ_TABLES = {"SetupLocation": (), "Setup": (), "LabMember": (), "Species": (), "Strain": (), "File": (),
             "AnalysisFile": (), "Subject": (), "Note": (), "Session": (), "DatasetType": (),
             "Dataset": ("DataFiles",), "Probe": (), "ProbeConfiguration": (),
             "EphysRecording": ("ProbeSetting",), "SpikeSortingParams": (), "SpikeSorting": ("Unit",),
             "UnitMetrics": (), "Watering": (), "DecisionTask": ("TrialSet",), "UnitCountCriteria": (),
             "UnitCount": ()}


@dataclass
class Catalog:
    """An open benchmark catalog."""

    lake: Lake
    context: Context
    scale: float
    root: Path
    build_seconds: float
    cached: bool
    counts: dict[str, int]

    @property
    def bytes_on_disk(self) -> int:
        """Size of the lake folder (catalog database and Parquet files)."""
        return sum(f.stat().st_size for f in self.root.rglob("*") if f.is_file())


def open_catalog(path: Path, scale: float, *, rebuild: bool = False) -> Catalog:
    """Return the catalog of ``scale`` under ``path``, building it when missing or stale."""
    root = Path(path) / f"scale-{scale:g}"
    marker = root / "built.json"
    info = _read(marker)
    if rebuild or info.get("format") != FORMAT or info.get("scale") != scale:
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        start = time.perf_counter()
        lake = Lake("sqlite", root)
        counts = _load(Context(lake, PROJECT), scale)
        info = {"format": FORMAT, "scale": scale, "build_seconds": time.perf_counter() - start,
                "counts": counts}
        marker.write_text(json.dumps(info, indent=1))
        cached = False
    else:
        lake = Lake("sqlite", root)
        cached = True
    context = Context(lake, PROJECT)
    with use(context):
        len(registry.get("SetupLocation")())  # creates nothing; registers the schemas as ensured
    return Catalog(lake, context, scale, root, info["build_seconds"], cached, info["counts"])


def _read(marker: Path) -> dict[str, Any]:
    try:
        return json.loads(marker.read_text())
    except (OSError, ValueError):
        return {}


def _load(context: Context, scale: float) -> dict[str, int]:
    with use(context):
        len(registry.get("Subject")())  # creates every declared table (and fills lookups)
    size = rows.sizes(scale)
    total = sum(_expected(name, size) for name in _ORDER)
    counts: dict[str, int] = {}
    with tqdm(total=total, desc=f"labdata: loading scale {scale:g}", unit="row", unit_scale=True,
              file=sys.stderr) as progress:
        for name, columns in rows.tables(scale):
            counts[name] = _insert(context, name, columns, progress)
    return counts


_ORDER = ("LabMember", "Species", "Strain", "Setup", "Subject", "Session", "Dataset", "File",
          "Dataset.DataFiles", "Probe", "ProbeConfiguration", "EphysRecording",
          "EphysRecording.ProbeSetting", "SpikeSortingParams", "SpikeSorting", "SpikeSorting.Unit",
          "UnitMetrics", "DecisionTask", "DecisionTask.TrialSet", "UnitCountCriteria", "UnitCount")


def _expected(name: str, size: rows.Sizes) -> int:
    per = {"Subject": size.subjects, "Session": size.sessions, "Dataset": size.datasets, "File": size.files,
           "Dataset.DataFiles": size.files, "Probe": size.probes, "ProbeConfiguration": size.probes,
           "EphysRecording": size.sessions, "EphysRecording.ProbeSetting": size.sessions,
           "SpikeSorting": size.sessions, "SpikeSorting.Unit": size.units, "UnitMetrics": size.units,
           "DecisionTask": size.sessions, "DecisionTask.TrialSet": 2 * size.sessions, "UnitCount": size.sessions}
    return per.get(name, 1)


def _insert(context: Context, name: str, columns: dict[str, Any], progress: tqdm) -> int:
    """Bulk-load one table: Arrow chunks, constant blobs bound once, one transaction."""
    schema = registry.schema(name)
    target = context.qualified(schema.tier_group, schema.sql_name)
    arrays = {k: v for k, v in columns.items() if not isinstance(v, rows.Blob)}
    blobs = {k: encode_blob(v.value, k) for k, v in columns.items() if isinstance(v, rows.Blob)}
    for column in (*arrays, *blobs):
        if column not in schema.names:
            raise KeyError(f"{name} has no attribute {column!r}")
    constants = "".join(f', ?::BLOB AS "{k}"' for k in blobs)
    sql = f"INSERT INTO {target} BY NAME SELECT *{constants} FROM src"
    n = len(next(iter(arrays.values())))
    lake = context.lake
    cursor = lake.cursor()
    with lake.transaction():
        for start in range(0, n, CHUNK):
            chunk = pa.table({k: _arrow(v[start:start + CHUNK]) for k, v in arrays.items()})
            cursor.register("src", chunk)
            try:
                cursor.execute(sql, list(blobs.values()))
            finally:
                cursor.unregister("src")
            progress.update(chunk.num_rows)
    lake.forget_keys()
    return n


def _arrow(values: np.ndarray) -> pa.Array:
    if values.dtype == object:
        return pa.array(values, type=pa.string())
    return pa.array(values)


def dj_definitions() -> list[dict[str, Any]]:
    """The declarations of :data:`DJ_TABLES` for DataJoint: tier, definition, contents, parts."""
    out = []
    for name, parts in DJ_TABLES.items():
        cls = registry.get(name)
        out.append({"name": name, "tier": cls.tier, "definition": cls.definition,
                    "contents": [list(r) for r in getattr(cls, "contents", ()) or ()],
                    "parts": {p: getattr(cls, p).definition for p in parts}})
    return out
