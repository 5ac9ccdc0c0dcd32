"""Spike arrays of a sorting, written together into one Zarr group (SPEC §3).

``SpikeSorting.Unit.insert(rows)`` (the DataJoint way, any number of sortings per call) groups
the rows by sorting, sorts each sorting's units by ``unit_id``, encodes the three spike arrays of
all its units into one Zarr group (:mod:`labdata.catalog.ops.array_groups`: times differenced per
unit, lz4 + byte shuffle) and writes it in one pass; each row keeps its unit's ``(offset, count)``
in that group. Only then, in one catalog transaction, the rows (and, when the group is in a
storage, its ``AnalysisFile`` row) are inserted. A crash before the commit leaves an unregistered
group and no rows; running the insert again writes a new group and registers it.

Where groups go: the storage named by the preference ``catalog.arrays_storage`` (a local folder
or S3; the group is registered as an AnalysisFile, ``[<project>/]<subject>/<session>/<dataset>/
spike_sorting/imec<probe>/<set>/units-<id>.zarr``), else the lake folder
(``catalog/arrays/<schema>/spike_sorting__unit/...``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from labdata.catalog.engine.context import DEFAULT_PROJECT, Context
from labdata.catalog.ops.array_groups import encode_group
from labdata.catalog.ops.blobs import write_objects
from labdata.catalog.ops.rows import normalize_rows
from labdata.core.storage import StorageSettings
from labdata.schema.general import AnalysisFile

__all__ = ["ARRAY_COLUMNS", "UnitArrays", "arrays_storage"]

ARRAY_COLUMNS = ("spike_times", "spike_amplitudes", "spike_positions")
_DIFFERENCED = ("spike_times",)
_WRITERS = 4  # groups encoded and written at once
_SORTING_KEY = ("subject_name", "session_name", "dataset_name", "probe_num", "parameter_set_num")


def arrays_storage(context: Context) -> str | None:
    """The storage that holds the lake's array groups (``catalog.arrays_storage``; None: the lake folder)."""
    name = context.prefs().get("catalog.arrays_storage")
    return str(name) if name else None


class UnitArrays:
    """Mixed into ``SpikeSorting.Unit``: inserts write each sorting's spike arrays as one group."""

    def insert(self, rows: Any, *, replace: bool = False, skip_duplicates: bool = False,
               ignore_extra_fields: bool = False, allow_direct_insert: bool | None = None) -> int:
        """Insert units; their spike arrays go to one Zarr group per sorting (see the module).

        Parameters are those of :meth:`labdata.catalog.Table.insert`.
        """
        table: Any = self
        listed = normalize_rows(rows, table.table_schema())
        options = dict(replace=replace, skip_duplicates=skip_duplicates, ignore_extra_fields=ignore_extra_fields,
                       allow_direct_insert=allow_direct_insert)
        if not any(isinstance(row.get(c), np.ndarray | list) for row in listed for c in ARRAY_COLUMNS):
            return super().insert(listed, **options)  # type: ignore[misc]
        context: Context = table.context
        storage = arrays_storage(context)
        target = (None, str(context.lake.root)) if storage is None else \
            StorageSettings.from_prefs(context.prefs(), storage).target()
        listed = [dict(row) for row in listed]
        groups = _by_sorting(listed)
        with ThreadPoolExecutor(min(_WRITERS, len(groups))) as pool:  # blosc, md5 and file writes release the GIL
            files = list(pool.map(lambda members: _write_group(context, storage, target, members), groups))
        with context.lake.transaction():
            if storage is not None:
                table._sibling(AnalysisFile).insert(files, skip_duplicates=True)
            return super().insert(listed, **options)  # type: ignore[misc]


def _by_sorting(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The rows of each sorting, by unit id."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row.get(k) for k in _SORTING_KEY), []).append(row)
    return [sorted(members, key=lambda r: _unit_order(r.get("unit_id"))) for members in groups.values()]


def _unit_order(unit_id: Any) -> tuple[int, Any]:
    return (0, int(unit_id)) if isinstance(unit_id, int | np.integer) else (1, str(unit_id))


def _write_group(context: Context, storage: str | None, target: tuple[Any, str],
                 members: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Encode and write one sorting's group; put its references into the rows; return its File row."""
    path = _group_path(context, storage, members[0])
    columns = {c: [_array_or_none(row.get(c)) for row in members] for c in ARRAY_COLUMNS
               if any(row.get(c) is not None for row in members)}
    written = encode_group(path, columns, storage=storage, differenced=[c for c in _DIFFERENCED if c in columns])
    write_objects(target[0], target[1], path, written.objects)
    for name, refs in written.slices.items():
        for row, ref in zip(members, refs, strict=True):
            row[name] = ref
    return {"file_path": path, "storage": storage, "file_datetime": dt.datetime.now().replace(microsecond=0),
            "file_size": float(written.size), "file_md5": written.md5}


def _array_or_none(value: Any) -> np.ndarray | None:
    return None if value is None else np.asarray(value)


def _group_path(context: Context, storage: str | None, row: dict[str, Any]) -> str:
    name = f"units-{uuid.uuid4().hex[:12]}.zarr"
    sorting = f"spike_sorting/imec{row.get('probe_num')}/{row.get('parameter_set_num')}"
    dataset = f"{row.get('subject_name')}/{row.get('session_name')}/{row.get('dataset_name')}"
    if storage is None:
        schema = context.schema_for("computed")
        return f"catalog/arrays/{schema}/spike_sorting__unit/{dataset}/{sorting}/{name}"
    project = "" if context.project == DEFAULT_PROJECT else f"{context.project}/"
    return f"{project}{dataset}/{sorting}/{name}"
