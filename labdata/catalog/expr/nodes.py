"""The query expression tree: immutable nodes and the heading each one produces.

A node describes a relation; it does no I/O and holds no connection, so a
query pickles, compiles without a lake, and is bound to a lake only when it
runs. Its :class:`~labdata.catalog.declare.heading.Heading` follows
DataJoint's rules:

* a restriction keeps the heading of its input;
* a join has the attributes of both sides (shared names once) and the union of
  their primary keys;
* a projection keeps the primary key (possibly renamed) and the listed,
  renamed and computed attributes;
* an aggregation has the grouping relation's primary key plus the computed
  attributes;
* a universal set ``U(a, b)`` has the primary key ``(a, b)``; ``U(a) * q`` is ``q``
  with ``a`` added to its primary key;
* a union has the attributes of both sides (DataJoint: an outer union on the primary key).

Joins and restrictions by a query refuse to match on an attribute that is secondary
on both sides (:func:`require_joinable`), as DataJoint 0.14 does; ``@`` and ``^`` skip it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from labdata.catalog.declare.heading import Column, Heading
from labdata.catalog.declare.registry import schema_name
from labdata.core.errors import QueryError

if TYPE_CHECKING:
    from labdata.catalog.expr.predicates import Predicate

__all__ = ["Aggregate", "Join", "Limit", "Node", "Project", "Restrict", "Source", "Union", "Universal",
           "children", "require_joinable", "sources", "user_texts"]


class Node:
    """Base class of expression nodes."""

    heading: Heading


@dataclass(frozen=True, eq=False)
class Source(Node):
    """A declared table: where it lives and its heading, not a connection.

    ``project`` is ``None`` for a table used in whatever project the query runs in,
    else the project it was bound to (``load_project_schema``). ``table_class`` is the
    declared class (pickled by reference), for the methods and the registry; compiling
    never needs it.
    """

    full_name: str
    group: str
    sql_name: str
    project: str | None
    heading: Heading
    table_class: Any = field(default=None, repr=False)

    def schema(self, project: str) -> str:
        """The catalog schema this table is read from when the query runs in ``project``."""
        return schema_name(self.group, self.project or project)


@dataclass(frozen=True, eq=False)
class Restrict(Node):
    """Rows of ``child`` for which ``predicate`` holds."""

    child: Node
    predicate: Predicate

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
        if isinstance(self.left, Universal):  # U('a') * q: q with a in its primary key
            right.require(left.names, "The query joined with U(...)")
            return Heading(tuple(replace(c, in_key=c.in_key or c.name in left) for c in right.columns))
        keys = set(left.primary_key) | set(right.primary_key)
        columns = [replace(c, in_key=c.name in keys) for c in left.columns]
        columns += [replace(c, in_key=c.name in keys) for c in right.columns if c.name not in left]
        return Heading(tuple(sorted(columns, key=lambda c: not c.in_key)))


@dataclass(frozen=True, eq=False)
class Project(Node):
    """Keep, rename and compute attributes; the primary key is always kept.

    ``attributes`` are kept as they are; ``renames`` are ``(new, old)``;
    ``computed`` are ``(new, MySQL expression)``. Renamed and computed attributes
    come after the kept ones, in the order given (as DataJoint orders them).
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
                columns.append(replace(column, name=name))
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
class Limit(Node):
    """The first ``limit`` rows of ``child`` in ``order_by`` order, after ``offset`` (DataJoint's ``dj.Top``)."""

    child: Node
    limit: int | None
    order_by: tuple[str, ...] = ("KEY",)
    offset: int = 0

    @functools.cached_property
    def heading(self) -> Heading:  # type: ignore[override]
        return self.child.heading


@dataclass(frozen=True, eq=False)
class Union(Node):
    """Rows of either relation; both must have the same primary key.

    With the same attributes on both sides, the distinct rows of both (labdata; DataJoint
    refuses shared secondary attributes). With different secondary attributes, DataJoint's
    outer union: every key of either side, the other side's attributes NULL where it lacks the key.
    """

    left: Node
    right: Node

    def __post_init__(self) -> None:
        left, right = self.left.heading, self.right.heading
        if set(left.primary_key) != set(right.primary_key):
            raise QueryError("The operands of a union must share the same primary key.",
                             hint=f"The primary keys are {left.primary_key} and {right.primary_key}; "
                                  "project both sides to the same key first.")
        shared = set(left.secondary) & set(right.secondary)
        if shared and set(left.names) != set(right.names):
            raise QueryError(f"The operands of a union must not share any secondary attributes "
                             f"(they share {', '.join(sorted(shared))}) unless they have the same attributes.",
                             hint="Project both sides to the same attributes, or rename the shared ones.")

    @property
    def outer(self) -> bool:
        """Whether this is DataJoint's outer union (the sides have different secondary attributes)."""
        return set(self.left.heading.names) != set(self.right.heading.names)

    @functools.cached_property
    def heading(self) -> Heading:  # type: ignore[override]
        left, right = self.left.heading, self.right.heading
        return Heading((*left.columns, *(c for c in right.columns if c.name not in left)))


def require_joinable(left: Heading, right: Heading) -> None:
    """Refuse to match two relations on an attribute secondary in both, as DataJoint 0.14 does.

    Raises
    ------
    QueryError
        Naming the attribute; ``a @ b`` (join) and ``a ^ b`` (restrict) skip this check.
    """
    shared = [name for name in left.secondary if name in right and not right[name].in_key]
    if shared:
        raise QueryError(f"Cannot join query expressions on dependent attribute `{shared[0]}`.",
                         hint=f"`{shared[0]}` is a secondary attribute of both; rename it on one side "
                              f"with proj(), or use a @ b (join) or a ^ b (restrict) to match on it anyway.")


def children(node: Node) -> Iterator[Node]:
    """The nodes ``node`` reads directly, restricting queries included."""
    for name in ("child", "left", "right", "group", "source"):
        value = getattr(node, name, None)
        if isinstance(value, Node):
            yield value
    predicate = getattr(node, "predicate", None)
    if predicate is not None:
        yield from predicate.nodes()


def sources(node: Node) -> list[Source]:
    """Every table ``node`` reads, each once, in the order first met."""
    found: dict[int, Source] = {}
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, Source):
            found.setdefault(id(current), current)
        stack.extend(children(current))
    return list(found.values())


def user_texts(node: Node) -> list[str]:
    """The MySQL texts a user wrote into ``node`` (restrictions, computed attributes), for error messages."""
    texts: list[str] = []
    stack = [node]
    while stack:
        current = stack.pop()
        texts.extend(text for _, text in getattr(current, "computed", ()))
        predicate = getattr(current, "predicate", None)
        if predicate is not None:
            texts.extend(predicate.texts())
        stack.extend(children(current))
    return texts
