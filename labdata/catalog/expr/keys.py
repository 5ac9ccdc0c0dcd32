"""Primary keys as fetched by ``fetch('KEY')``: a list of dicts that remembers its Arrow table.

DataJoint returns a plain list of dicts, and code does everything a list allows
with it: ``json.dumps(keys)``, ``random.shuffle(keys)``, ``keys.append(k)``,
``keys + more``, slices, ``pd.DataFrame(keys)``. :class:`KeyList` is such a
list. It also keeps the Arrow table the keys came from, so that restricting by
it (``Unit & keys``) joins that table instead of writing one condition per key;
any change to the list forgets the table (the list is then read as dicts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, SupportsIndex

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["KeyList"]


def _forgets_table(name: str) -> Any:
    method = getattr(list, name)

    def changed(self: KeyList, *args: Any, **kwargs: Any) -> Any:
        self._table = None
        return method(self, *args, **kwargs)

    changed.__name__, changed.__doc__ = name, method.__doc__
    return changed


class KeyList(list[dict[str, Any]]):
    """A list of primary keys (dicts), built from an Arrow table that restrictions reuse.

    Parameters
    ----------
    table : pyarrow.Table
        One column per key attribute, one row per key.
    """

    def __init__(self, table: pa.Table) -> None:
        names = table.column_names
        super().__init__(dict(zip(names, row, strict=True))
                         for row in zip(*(column.to_pylist() for column in table.columns), strict=True))
        self._table: pa.Table | None = table

    @property
    def names(self) -> list[str]:
        """The key attributes."""
        if self._table is not None:
            names: list[str] = self._table.column_names
            return names
        return list(self[0]) if self else []

    def to_arrow(self) -> pa.Table | None:
        """The keys as the Arrow table they were fetched as; ``None`` once the list was changed."""
        return self._table

    def to_pandas(self) -> Any:
        """The keys as a DataFrame, one column per key attribute."""
        import pandas as pd

        return self._table.to_pandas() if self._table is not None else pd.DataFrame(list(self))

    def __getitem__(self, index: SupportsIndex | slice) -> Any:
        if isinstance(index, slice) and self._table is not None:
            start, stop, step = index.indices(len(self))
            if step == 1:
                return KeyList(self._table.slice(start, max(stop - start, 0)))
        return list.__getitem__(self, index)

    def __reduce__(self) -> tuple[Any, ...]:
        return list, (list(self),)

    append = _forgets_table("append")
    extend = _forgets_table("extend")
    insert = _forgets_table("insert")
    pop = _forgets_table("pop")
    remove = _forgets_table("remove")
    clear = _forgets_table("clear")
    sort = _forgets_table("sort")
    reverse = _forgets_table("reverse")
    __setitem__ = _forgets_table("__setitem__")
    __delitem__ = _forgets_table("__delitem__")
    __iadd__ = _forgets_table("__iadd__")
    __imul__ = _forgets_table("__imul__")
