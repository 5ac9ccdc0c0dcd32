"""Restrictions as typed predicates: what users write after ``&`` and ``-``, sorted once.

DataJoint 0.14's semantics (``A & cond`` keeps the rows of A that match):

==================================  ==============================================
restriction                         rows kept
==================================  ==============================================
``dict``                            equal on the keys the relation has (others ignored;
                                    a dict sharing no attribute keeps every row)
``str`` (MySQL syntax)              where the condition holds
another query                       with a match on the shared attributes (semijoin);
                                    every row if there is at least one row and none shared
``list`` / ``tuple`` / ``set``      matching any element (OR); an empty list keeps none
:class:`AndList`                    matching every element; an empty AndList keeps all
:class:`Not`                        not matching the wrapped restriction
``True`` / ``False``                all / none
``None``                            none
numpy record, DataFrame             as the dict / list of dicts of their rows (a frame's
                                    index, e.g. the primary key of ``fetch(format='frame')``,
                                    counts as columns)
==================================  ==============================================

``A - cond`` keeps the rows that ``A & cond`` drops, so ``A - []`` is A and
``A - AndList()`` is empty.

:func:`to_predicate` is the one place that sorts user input by type: it checks
attribute names and value types against the heading, coerces values, and returns
a tree of :class:`Predicate` nodes, plain data that the SQL compiler and the
in-process evaluator each translate. A new kind of restriction is added here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from labdata.catalog.expr.keys import KeyList
from labdata.catalog.expr.mysql import check_condition
from labdata.catalog.expr.nodes import Limit, Node, Restrict, require_joinable
from labdata.core.errors import QueryError, ValueTooLongError

if TYPE_CHECKING:
    from labdata.catalog.declare.heading import Heading

__all__ = [
    "AllOf",
    "AndList",
    "AnyOf",
    "Condition",
    "Const",
    "Equal",
    "KeyRows",
    "Negate",
    "Not",
    "Predicate",
    "Semijoin",
    "Top",
    "restricted",
    "to_predicate",
]

_BLOB_KINDS = ("blob", "longblob")
#: lists of at least this many uniform dicts become one KeyRows (a join) instead of an OR of conditions
_ROWS_FROM = 8


class AndList(list[Any]):
    """A list of restrictions that must all hold (a plain list means OR)."""


class Not:
    """The negation of a restriction: ``Session & Not(key)`` equals ``Session - key``."""

    def __init__(self, restriction: Any) -> None:
        self.restriction = restriction

    def __repr__(self) -> str:
        return f"Not({self.restriction!r})"


@dataclass
class Top:
    """DataJoint's ``dj.Top``: ``q & Top(limit, order_by, offset)`` keeps the first ``limit`` rows
    in ``order_by`` order (``'KEY'``, ``'attr'``, ``'attr DESC'``), after skipping ``offset``."""

    limit: int | None = 1
    order_by: str | list[str] | None = "KEY"
    offset: int = 0

    def __post_init__(self) -> None:
        self.order_by = [self.order_by] if isinstance(self.order_by, str) else list(self.order_by or ["KEY"])
        self.offset = self.offset or 0
        if self.limit is not None and not isinstance(self.limit, int):
            raise QueryError("Top limit must be an integer.", hint="Write Top(5) or Top(None, offset=10).")
        if not isinstance(self.offset, int):
            raise QueryError("The offset argument must be an integer.", hint="Write Top(5, offset=10).")
        if not all(isinstance(term, str) for term in self.order_by):
            raise QueryError("Top order_by attributes must all be strings.", hint="Write Top(5, 'attr DESC').")


class Predicate:
    """Base class of predicates: a condition on the rows of one heading."""

    def nodes(self) -> Iterator[Node]:
        """The query nodes this predicate reads (semijoins)."""
        return iter(())

    def texts(self) -> Iterator[str]:
        """The MySQL texts the user wrote in this predicate."""
        return iter(())


@dataclass(frozen=True)
class Const(Predicate):
    """Every row (``True``) or none (``False``)."""

    value: bool


@dataclass(frozen=True)
class Equal(Predicate):
    """Attributes equal to values (``None``: IS NULL); values already coerced to the attributes' types."""

    items: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Condition(Predicate):
    """A MySQL condition, checked against the heading when it was made."""

    text: str

    def texts(self) -> Iterator[str]:
        yield self.text


@dataclass(frozen=True, eq=False)
class Semijoin(Predicate):
    """A match in ``node`` on the ``shared`` attributes (none shared: ``node`` has any row)."""

    node: Node
    shared: tuple[str, ...]

    def nodes(self) -> Iterator[Node]:
        yield self.node


@dataclass(frozen=True, eq=False)
class KeyRows(Predicate):
    """A match among ``rows`` (an Arrow table of shared attributes; NULL matches nothing)."""

    rows: pa.Table


@dataclass(frozen=True)
class AllOf(Predicate):
    """Every part holds."""

    parts: tuple[Predicate, ...]

    def nodes(self) -> Iterator[Node]:
        for part in self.parts:
            yield from part.nodes()

    def texts(self) -> Iterator[str]:
        for part in self.parts:
            yield from part.texts()


@dataclass(frozen=True)
class AnyOf(AllOf):
    """At least one part holds."""


@dataclass(frozen=True)
class Negate(Predicate):
    """The part does not hold."""

    part: Predicate

    def nodes(self) -> Iterator[Node]:
        return self.part.nodes()

    def texts(self) -> Iterator[str]:
        return self.part.texts()


TRUE, FALSE = Const(True), Const(False)


def negate(predicate: Predicate) -> Predicate:
    """The negation of ``predicate`` (constants flipped, double negations removed)."""
    if isinstance(predicate, Const):
        return Const(not predicate.value)
    if isinstance(predicate, Negate):
        return predicate.part
    return Negate(predicate)


def to_predicate(restriction: Any, heading: Heading, *, check: bool = True) -> Predicate:
    """Sort a restriction by type once and return its predicate on rows of ``heading``.

    ``check=False`` (DataJoint's permissive ``^``) lets a query restrict on attributes
    secondary on both sides.

    Raises
    ------
    QueryError
        For a restriction of an unknown type, an unknown attribute in a string, a blob
        compared with a value, or a malformed MySQL condition.
    WrongTypeError
        For a dict value its attribute cannot hold (a date attribute and ``"notadate"``).
    """
    restriction = _as_relation(restriction)
    if getattr(restriction, "restricts_everything", False):  # dj.U: restricting by it keeps every row
        return TRUE
    if restriction is None or isinstance(restriction, bool | np.bool_):
        return TRUE if restriction else FALSE
    if isinstance(restriction, Not):
        return negate(to_predicate(restriction.restriction, heading, check=check))
    if isinstance(getattr(restriction, "node", None), Node):
        if check:
            require_joinable(heading, restriction.node.heading)
        return _semijoin(restriction.node, heading)
    if isinstance(restriction, str):
        check_condition(restriction, heading)
        return Condition(restriction)
    if isinstance(restriction, np.void):
        restriction = dict(zip(restriction.dtype.names or (), restriction.tolist(), strict=True))
    if isinstance(restriction, Mapping):
        return _equal(restriction, heading)
    if isinstance(restriction, KeyList) and restriction.to_arrow() is not None:
        return _key_rows(restriction.to_arrow(), heading)
    if _is_frame(restriction):
        restriction = _frame_rows(restriction, heading)
    if isinstance(restriction, AndList):
        return _all_of([to_predicate(r, heading, check=check) for r in restriction])
    if isinstance(restriction, list | tuple | set | np.ndarray):
        return _any_of(list(restriction), heading, check)
    raise QueryError(f"Cannot restrict by a {type(restriction).__name__}: {restriction!r:.80}.",
                     hint="Restrict by a dict, a string condition, another query or a list of these.")


def restricted(node: Node, restriction: Any, *, negated: bool = False, check: bool = True) -> Node:
    """``node`` restricted by ``restriction`` (``&``), or by its negation (``-``); a :class:`Top` keeps its first rows.

    ``check=False`` is DataJoint's permissive ``^`` (see :func:`to_predicate`).
    """
    if isinstance(restriction, Top):
        if negated:
            raise QueryError("Cannot subtract a Top restriction.", hint="Write q & Top(...) instead.")
        order = restriction.order_by
        terms = (order,) if isinstance(order, str) else tuple(order or ())
        return Limit(node, restriction.limit, terms, restriction.offset)
    predicate = to_predicate(restriction, node.heading, check=check)
    return Restrict(node, negate(predicate) if negated else predicate)


def _as_relation(value: Any) -> Any:
    """A table class becomes its instance (it restricts like one); anything else is kept."""
    return value() if isinstance(value, type) and hasattr(value, "table_schema") else value


def _semijoin(node: Node, heading: Heading) -> Predicate:
    return Semijoin(node, tuple(name for name in heading.names if name in node.heading))


def _equal(restriction: Mapping[str, Any], heading: Heading) -> Predicate:
    items = []
    for name, value in restriction.items():
        if name not in heading:
            continue  # DataJoint semantics: keys the relation lacks are ignored
        coerced = _coerced(name, value, heading)
        if coerced is _NO_MATCH:
            return FALSE
        items.append((name, coerced))
    return Equal(tuple(items)) if items else TRUE


_NO_MATCH = object()


def _coerced(name: str, value: Any, heading: Heading) -> Any:
    """``value`` as attribute ``name`` holds it; ``_NO_MATCH`` for a string longer than it can hold."""
    attribute = heading[name]
    if value is not None and attribute.kind in _BLOB_KINDS:
        raise QueryError(f"Cannot restrict by the blob attribute {name!r}.",
                         hint="Restrict by key attributes or scalar attributes.")
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or attribute.type is None:
        return value
    try:
        return attribute.type.coerce(value, name)
    except ValueTooLongError:
        return _NO_MATCH  # no row can hold it


def _all_of(parts: list[Predicate]) -> Predicate:
    if any(part == FALSE for part in parts):
        return FALSE
    kept = tuple(part for part in parts if part != TRUE)
    return TRUE if not kept else kept[0] if len(kept) == 1 else AllOf(kept)


def _any_of(items: list[Any], heading: Heading, check: bool = True) -> Predicate:
    rows = _uniform_rows(items, heading) if len(items) >= _ROWS_FROM else None
    if rows is not None:
        return rows
    parts = [to_predicate(item, heading, check=check) for item in items]
    if any(part == TRUE for part in parts):
        return TRUE
    kept = tuple(part for part in parts if part != FALSE)
    return FALSE if not kept else kept[0] if len(kept) == 1 else AnyOf(kept)


def _uniform_rows(items: list[Any], heading: Heading) -> Predicate | None:
    """Many dicts with the same keys and no NULL become one :class:`KeyRows` (a join, not an OR)."""
    if not all(isinstance(item, Mapping) for item in items):
        return None
    names = [name for name in items[0] if name in heading]
    if not names or any([n for n in item if n in heading] != names for item in items):
        return None
    plain = {name: [item[name] for item in items] for name in names}
    if all(_already_coerced(name, values, heading) for name, values in plain.items()):
        columns = plain
    else:
        columns = {name: [] for name in names}
        for item in items:
            values = [_coerced(name, item[name], heading) for name in names]
            if any(value is None for value in values):
                return None
            if _NO_MATCH not in values:
                for name, value in zip(names, values, strict=True):
                    columns[name].append(value)
    try:
        return _key_rows(pa.table(columns), heading)
    except (pa.ArrowException, TypeError, ValueError):
        return None


def _already_coerced(name: str, values: list[Any], heading: Heading) -> bool:
    """Whether every value of a key column is already what coercion would give: Python ints of an
    integer attribute, strings that fit a string attribute (keys fetched from the lake are)."""
    attribute = heading[name]
    kind, length = (attribute.type.kind, attribute.type.length) if attribute.type is not None else ("", None)
    if kind == "integer":
        return all(type(v) is int for v in values)
    if kind == "string":
        return all(type(v) is str for v in values) and (length is None or max(map(len, values)) <= length)
    return False


_ARROW_INTEGERS = {"TINYINT": pa.int8(), "SMALLINT": pa.int16(), "INTEGER": pa.int32(), "BIGINT": pa.int64(),
                   "UTINYINT": pa.uint8(), "USMALLINT": pa.uint16(), "UINTEGER": pa.uint32(), "UBIGINT": pa.uint64()}


def _key_rows(rows: pa.Table, heading: Heading) -> Predicate:
    shared = [name for name in rows.column_names if name in heading]
    if not rows.num_rows:
        return FALSE
    return KeyRows(_as_declared(rows.select(shared), heading)) if shared else TRUE


def _as_declared(rows: pa.Table, heading: Heading) -> pa.Table:
    """Integer key columns in their declared width (Python ints arrive as int64), so that the join
    compares like with like (the 1,000-dict restriction of a unit table: 13 -> 8 ms in DuckDB)."""
    for index, name in enumerate(rows.column_names):
        attribute_type = heading[name].type
        target = _ARROW_INTEGERS.get(attribute_type.sql) if attribute_type is not None else None
        if target is not None and pa.types.is_integer(rows.schema.field(index).type) and \
                rows.schema.field(index).type != target:
            try:
                rows = rows.set_column(index, name, rows.column(index).cast(target))
            except pa.ArrowInvalid:  # a value out of the declared range matches no row; keep the wide type
                continue
    return rows


def _is_frame(value: Any) -> bool:
    return hasattr(value, "to_dict") and hasattr(value, "columns") and hasattr(value, "index")


def _frame_rows(frame: Any, heading: Heading) -> list[dict[str, Any]]:
    """A DataFrame's rows as dicts, its named index (a fetched frame's primary key) included;
    blob columns (arrays, which cannot be compared) left out."""
    if any(name is not None for name in frame.index.names):
        frame = frame.reset_index()
    kept = [c for c in frame.columns if c in heading and heading[c].kind not in _BLOB_KINDS]
    records: list[dict[str, Any]] = frame[kept].to_dict("records")
    return [{k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()} for row in records]
