"""The query expression tree: immutable nodes and the heading each one produces.

A node describes a relation; it does no I/O and holds no connection. Its
:class:`Heading` (attribute names, which form the primary key, and the kind of
each attribute, so that fetched blobs can be decoded) follows DataJoint's rules:

* a restriction keeps the heading of its input;
* a join has the attributes of both sides (shared names once) and the union of
  their primary keys;
* a projection keeps the primary key (possibly renamed) and the listed,
  renamed and computed attributes;
* an aggregation has the grouping relation's primary key plus the computed
  attributes;
* a universal set ``U(a, b)`` has the primary key ``(a, b)``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labdata.core.errors import QueryError, did_you_mean

if TYPE_CHECKING:
    from labdata.catalog.declare import TableSchema
    from labdata.catalog.table import Table

__all__ = ["Aggregate", "Column", "Heading", "Join", "Node", "Project", "Restrict", "Source", "Union", "Universal"]


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


class Node:
    """Base class of expression nodes."""

    heading: Heading


@dataclass(frozen=True, eq=False)
class Source(Node):
    """A declared table (bound to the context it is used in)."""

    table: Table

    @functools.cached_property
    def heading(self) -> Heading:  # type: ignore[override]
        return self.table.table_schema().heading


@dataclass(frozen=True, eq=False)
class Restrict(Node):
    """Rows of ``child`` that match (or, negated, do not match) ``restriction``."""

    child: Node
    restriction: Any
    negate: bool = False

    @functools.cached_property
    def heading(self) -> Heading:  # type: ignore[override]
        return self.child.heading


@dataclass(frozen=True, eq=False)
class Join(Node):
    """Natural join on the attributes both sides share (a cross join when they share none)."""

    left: Node
    right: Node

    @functools.cached_property
    def heading(self) -> Heading:  # type: ignore[override]
        left, right = self.left.heading, self.right.heading
        keys = set(left.primary_key) | set(right.primary_key)
        columns = [Column(c.name, c.kind, c.name in keys, c.type, c.nullable) for c in left.columns]
        columns += [Column(c.name, c.kind, c.name in keys, c.type, c.nullable)
                    for c in right.columns if c.name not in left]
        return Heading(tuple(sorted(columns, key=lambda c: not c.in_key)))


@dataclass(frozen=True, eq=False)
class Project(Node):
    """Keep, rename and compute attributes; the primary key is always kept.

    ``attributes`` are kept as they are; ``renames`` are ``(new, old)``;
    ``computed`` are ``(new, MySQL expression)``.
    """

    child: Node
    attributes: tuple[str, ...]
    renames: tuple[tuple[str, str], ...] = ()
    computed: tuple[tuple[str, str], ...] = ()

    @functools.cached_property
    def heading(self) -> Heading:  # type: ignore[override]
        child = self.child.heading
        renamed = {old: new for new, old in self.renames}
        columns = []
        for column in child.columns:
            if column.in_key or column.name in self.attributes or column.name in renamed:
                name = renamed.get(column.name, column.name)
                columns.append(Column(name, column.kind, column.in_key, column.type, column.nullable))
        columns += [Column(new, "computed", False) for new, _ in self.computed]
        return Heading(tuple(columns))


@dataclass(frozen=True, eq=False)
class Aggregate(Node):
    """For each row of ``group``, aggregates over the matching rows of ``source``."""

    group: Node
    source: Node
    computed: tuple[tuple[str, str], ...]
    keep_all_rows: bool = False
    attributes: tuple[str, ...] = ()

    @functools.cached_property
    def heading(self) -> Heading:  # type: ignore[override]
        group = self.group.heading
        kept = [c for c in group.columns if c.in_key or c.name in self.attributes]
        return Heading(tuple(kept) + tuple(Column(new, "computed", False) for new, _ in self.computed))


@dataclass(frozen=True, eq=False)
class Universal(Node):
    """The universal set over ``attributes`` (DataJoint's ``dj.U``): every combination of values."""

    attributes: tuple[str, ...]

    @functools.cached_property
    def heading(self) -> Heading:  # type: ignore[override]
        return Heading(tuple(Column(name, "computed", True) for name in self.attributes))


@dataclass(frozen=True, eq=False)
class Union(Node):
    """Rows of either relation; both must have the same primary key."""

    left: Node
    right: Node

    @functools.cached_property
    def heading(self) -> Heading:  # type: ignore[override]
        return self.left.heading
