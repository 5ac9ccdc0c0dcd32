"""Primary keys as fetched by ``fetch('KEY')``: dicts, made only when they are read.

A lab-wide ``fetch('KEY')`` returns a million keys; building a million dicts
costs a second of Python. :class:`KeyList` holds the keys as an Arrow table and
behaves as the list of dicts DataJoint returns (``len``, indexing, slicing,
iteration, ``==`` with a list), building each dict when it is read.
Restricting by it (``Unit & keys``) joins the Arrow table instead of writing
a million conditions.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["KeyList"]

_REPR_ROWS = 10


class KeyList(Sequence):
    """A read-only list of primary keys (dicts) backed by an Arrow table.

    Parameters
    ----------
    table : pyarrow.Table
        One column per key attribute, one row per key.
    """

    __hash__ = None  # type: ignore[assignment]  # compared by value, as a list

    def __init__(self, table: pa.Table) -> None:
        self._table = table
        self._columns: list[list[Any]] | None = None

    @property
    def names(self) -> list[str]:
        """The key attributes."""
        return self._table.column_names

    def _values(self) -> list[list[Any]]:
        if self._columns is None:
            self._columns = [column.to_pylist() for column in self._table.columns]
        return self._columns

    def __len__(self) -> int:
        return self._table.num_rows

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step == 1:
                return KeyList(self._table.slice(start, max(stop - start, 0)))
            return KeyList(self._table.take(list(range(start, stop, step))))
        position = operator.index(index)
        if position < 0:
            position += len(self)
        if not 0 <= position < len(self):
            raise IndexError("key index out of range")
        return {name: values[position] for name, values in zip(self.names, self._values(), strict=True)}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        names = self.names
        return (dict(zip(names, row, strict=True)) for row in zip(*self._values(), strict=True))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, KeyList):
            return self._table.equals(other._table)
        if isinstance(other, list | tuple):
            return len(other) == len(self) and list(self) == list(other)
        return NotImplemented

    def __add__(self, other: Any) -> list[dict[str, Any]]:
        return list(self) + list(other)

    def __repr__(self) -> str:
        shown = ", ".join(repr(key) for key in self[:_REPR_ROWS])
        more = f", ... ({len(self):,} keys)" if len(self) > _REPR_ROWS else ""
        return f"[{shown}{more}]"

    def to_arrow(self) -> pa.Table:
        """The keys as an Arrow table."""
        return self._table

    def to_pandas(self) -> pd.DataFrame:
        """The keys as a DataFrame, one column per key attribute."""
        return self._table.to_pandas()
