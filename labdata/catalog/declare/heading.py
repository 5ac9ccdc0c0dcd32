"""Headings: the attributes of a relation, which of them form the primary key, and their kinds.

A heading is plain data (names, kinds, declared types): the compiler, the
in-process evaluator and the fetch decoder need nothing else to know a
relation's shape, and it pickles with the query that owns it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labdata.core.errors import QueryError, did_you_mean

if TYPE_CHECKING:
    from labdata.catalog.declare.definition import TableSchema

__all__ = ["Column", "Heading"]


@dataclass(frozen=True)
class Column:
    """One attribute of a heading: name, kind (``blob``, ``longblob``, ``float``, ...) and key membership."""

    name: str
    kind: str
    in_key: bool
    type: Any = None  # the AttributeType of a table attribute, None for computed ones
    nullable: bool = True


@dataclass(frozen=True)
class Heading:
    """The attributes of a relation, in order."""

    columns: tuple[Column, ...]

    @classmethod
    def of_table(cls, schema: TableSchema) -> Heading:
        """The heading of a declared table."""
        return cls(tuple(Column(a.name, a.type.kind, a.in_key, a.type, a.nullable) for a in schema.attributes))

    @functools.cached_property
    def names(self) -> tuple[str, ...]:
        """Every attribute name."""
        return tuple(c.name for c in self.columns)

    @functools.cached_property
    def primary_key(self) -> tuple[str, ...]:
        """Names of the primary-key attributes."""
        return tuple(c.name for c in self.columns if c.in_key)

    @functools.cached_property
    def secondary(self) -> tuple[str, ...]:
        """Names of the other attributes."""
        return tuple(c.name for c in self.columns if not c.in_key)

    @functools.cached_property
    def _by_name(self) -> dict[str, Column]:
        return {c.name: c for c in self.columns}

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __getitem__(self, name: str) -> Column:
        return self._by_name[name]

    def require(self, names: tuple[str, ...] | list[str], what: str) -> None:
        """Raise :class:`QueryError` naming the first unknown attribute, with the closest one."""
        for name in names:
            if name not in self:
                raise QueryError(f"{what} has no attribute {name!r}.{did_you_mean(name, self.names)}",
                                 hint=f"Attributes: {', '.join(self.names)}.")
