"""The replica's key indexes: a table's rows sorted by primary key, found by the first key attribute.

:mod:`labdata.catalog.expr.lookup` answers key lookups from them without DuckDB.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["KeyIndex"]


class KeyIndex:
    """A table's rows sorted by primary key, found by the value of the first key attribute.

    The rows are one Arrow table and the row range of each first-key value; rows
    that changed since are held per value in an overlay (:meth:`update`), so
    keeping the index current costs only the changed keys.

    Parameters
    ----------
    table : pyarrow.Table
        Every row of the table, sorted by primary key.
    key : tuple of str
        The primary key.
    version : int
        The snapshot the rows are from.
    """

    def __init__(self, table: pa.Table, key: tuple[str, ...], version: int) -> None:
        self.table, self.key, self.version = table, key, version
        self.ranges = _ranges(table.column(key[0]))
        self.overlay: dict[Any, pa.Table] = {}

    def all_rows(self) -> pa.Table:
        """Every row (those of overlaid values last)."""
        overlay = self.overlay
        if not overlay:
            return self.table
        kept = self.table.filter(pc.invert(_is_in(self.table.column(self.key[0]), set(overlay))))
        return pa.concat_tables([kept, *overlay.values()])

    def counts(self, values: list[Any]) -> list[int]:
        """The number of rows of each value of the first key attribute."""
        overlay, sizes = self.overlay, self.sizes
        if not overlay:
            return [sizes.get(value, 0) for value in values]
        return [overlay[value].num_rows if value in overlay else sizes.get(value, 0) for value in values]

    @functools.cached_property
    def sizes(self) -> dict[Any, int]:
        """The number of rows of each value of the first key attribute in the table (not the overlay)."""
        return {value: stop - start for value, (start, stop) in self.ranges.items()}

    @property
    def nbytes(self) -> int:
        """Memory held by the rows (the overlay shares the table's buffers until it is rebuilt)."""
        return self.table.nbytes + sum(block.nbytes for block in self.overlay.values())

    def rows(self, values: Iterable[Any]) -> pa.Table:
        """The rows whose first key attribute is one of ``values``, in key order."""
        overlay = self.overlay  # replaced, never changed, by update()
        blocks = [block for value in sorted(set(values)) if (block := self._block(value, overlay)) is not None]
        if len(blocks) == 1:
            return blocks[0]
        return pa.concat_tables(blocks) if blocks else self.table.slice(0, 0)

    def _block(self, value: Any, overlay: dict[Any, pa.Table]) -> pa.Table | None:
        if value in overlay:
            return overlay[value]
        span = self.ranges.get(value)
        return None if span is None else self.table.slice(span[0], span[1] - span[0])

    def update(self, values: Iterable[Any], rows: pa.Table, version: int) -> None:
        """Replace the rows of the first-key ``values`` by ``rows`` (their rows at ``version``, in key order)."""
        fresh = {value: rows.slice(start, stop - start)
                 for value, (start, stop) in _ranges(rows.column(self.key[0])).items()}
        overlay = dict(self.overlay)
        for value in values:
            overlay[value] = fresh.get(value, rows.slice(0, 0))
        self.overlay, self.version = overlay, version


def _ranges(column: pa.ChunkedArray) -> dict[Any, tuple[int, int]]:
    """Where each value of a sorted column starts and stops."""
    values = _plain(column.combine_chunks())
    if not len(values):
        return {}
    encoded = pc.run_end_encode(values)
    ends = encoded.run_ends.to_pylist()
    return dict(zip(encoded.values.to_pylist(), zip([0, *ends[:-1]], ends, strict=True), strict=True))


def _plain(column: Any) -> Any:
    """A dictionary-encoded (ENUM) column as its values."""
    return column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column


def _is_in(column: pa.ChunkedArray, values: set) -> Any:
    column = _plain(column)
    if len(values) == 1:
        return pc.equal(column, pa.scalar(next(iter(values)), type=column.type))
    return pc.is_in(column, value_set=pa.array(list(values), type=column.type))
