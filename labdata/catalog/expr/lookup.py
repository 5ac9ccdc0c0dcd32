"""Key lookups answered in-process from the read replica, without DuckDB.

Most queries scientists type name a key: ``(Session & key).fetch1()``,
``SpikeSorting.Unit & sorting_key``, ``Dataset & (Session & key)``,
``Session * EphysRecording & {'subject_name': s}``. They read a handful of rows,
and compiling the query plus DuckDB's fixed cost per statement (parse, plan,
run, convert: 0.3–1 ms) is most of their time. For tables read often by key the
replica therefore keeps a :class:`KeyIndex`: the copy's rows as an Arrow table
sorted by primary key, with the row range of each value of the first key
attribute. :func:`evaluate` answers a query from these indexes when it is made of

* tables restricted to given values of their first key attribute (by dicts,
  fetched keys, or a semijoin with a query that can itself be answered so);
* further restrictions, combined with AND: dicts, fetched keys, semijoins, and
  MySQL conditions comparing numeric attributes with numbers and text attributes
  with strings, ``IN``, ``LIKE`` (``AND``, ``OR``, ``NOT``, ``IS NULL``; see
  :mod:`labdata.catalog.expr.arrow_conditions`), whose equalities
  (``subject_name = "X"``) find the rows by key as dicts do;
* natural joins and projections (keep, drop, rename) of such parts;
* whole tables of at most ``MAX_ROWS`` rows;
* ``count(*)`` of a table's rows per value of its first key attribute
  (``Subject.aggr(Session, n='count(*)')``): the length of the value's row range;
* other aggregates of such parts: ``count``, ``min`` and ``max``
  (``(Subject & m).aggr(DecisionTask * Session, first=min(session_datetime))``,
  see :mod:`labdata.catalog.expr.arrow_aggregates`);

and returns ``None`` for anything else, which DuckDB then runs. The rows are
those DuckDB would return (values compare as DuckDB compares them; tests check
both paths against each other on random queries).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from labdata.catalog.expr.arrow_aggregates import Aggregation, aggregation
from labdata.catalog.expr.arrow_conditions import (
    NotSupported,
    column_names,
    condition,
    key_values,
)
from labdata.catalog.expr.nodes import Aggregate, Join, Project, Restrict, Source
from labdata.catalog.expr.predicates import (
    AllOf,
    AnyOf,
    Condition,
    Const,
    Equal,
    KeyRows,
    Predicate,
    Semijoin,
)

if TYPE_CHECKING:
    from labdata.catalog.declare.heading import Heading
    from labdata.catalog.expr.nodes import Node

__all__ = ["KeyIndexLike", "evaluate"]

#: kinds whose equality is the same in Python and in DuckDB (floats are not: DuckDB compares FLOAT as FLOAT)
_EXACT_KINDS = frozenset({"string", "enum", "integer", "date", "datetime", "bool"})
#: kinds whose equalities in MySQL conditions narrow the rows looked up
_NARROWING_KINDS = frozenset({"string", "enum", "integer"})
#: larger intermediate results are left to DuckDB, which joins and filters them faster
MAX_ROWS = 20_000


class _GiveUp(Exception):  # noqa: N818 - internal: unwinds an evaluation DuckDB must do
    pass


class KeyIndexLike(Protocol):
    """What :func:`evaluate` needs of a key index (see :class:`labdata.catalog.engine.key_index.KeyIndex`)."""

    key: tuple[str, ...]

    def all_rows(self) -> pa.Table: ...  # noqa: D102
    def rows(self, values: Iterable[Any]) -> pa.Table: ...  # noqa: D102
    def counts(self, values: list[Any]) -> list[int]: ...  # noqa: D102


def _condition(text: str, heading: Heading) -> Callable[[pa.Table], Any]:
    try:
        return condition(text, heading)
    except NotSupported:
        raise _GiveUp from None


def _aggregation(node: Aggregate) -> Aggregation:
    try:
        return aggregation(node.computed, node.source.heading)
    except NotSupported:
        raise _GiveUp from None


IndexOf = Callable[[Source, "int | None"], "KeyIndexLike | None"]
Needed = frozenset[str] | None  # the attributes a step must return (None: all)


def evaluate(node: Node, index_of: IndexOf, columns: Iterable[str] | None = None) -> pa.Table | None:
    """Return the rows of ``node``, or ``None`` if DuckDB must run it.

    ``index_of(source, max_rows)`` returns the :class:`KeyIndex` of a table, or ``None`` when
    it has none (or more than ``max_rows`` rows, if given). The rows hold every attribute of
    the heading, or at least ``columns`` if given (only the columns a step needs are filtered:
    filtering copies every column kept).
    """
    try:
        return _Evaluation(index_of).rows(node, {}, None if columns is None else frozenset(columns))
    except _GiveUp:
        return None


class _Evaluation:
    """One evaluation; ``allowed`` maps attribute names to the set of values rows may have."""

    def __init__(self, index_of: IndexOf) -> None:
        self.index_of = index_of

    def rows(self, node: Node, allowed: dict[str, set[Any]], needed: Needed = None) -> pa.Table:
        """The rows of ``node`` with values in ``allowed``: every attribute, or at least ``needed``."""
        if isinstance(node, Source):
            rows = self._source(node, allowed, needed)
        elif isinstance(node, Restrict):
            rows = self._restrict(node, allowed, needed)
        elif isinstance(node, Join):
            rows = self._join(node, allowed, needed)
        elif isinstance(node, Project):
            rows = self._project(node, allowed, needed)
        elif isinstance(node, Aggregate):
            rows = self._aggregate(node, allowed)
        else:
            raise _GiveUp
        if rows.num_rows > MAX_ROWS:
            raise _GiveUp
        return rows

    def _source(self, node: Source, allowed: dict[str, set[Any]], needed: Needed) -> pa.Table:
        heading = node.heading
        key = heading.primary_key
        if not key or any(heading[n].kind not in _EXACT_KINDS for n in allowed):
            raise _GiveUp
        whole = key[0] not in allowed
        index = self.index_of(node, MAX_ROWS if whole else None)
        if index is None:
            raise _GiveUp
        rows = index.all_rows() if whole else index.rows(allowed[key[0]])
        if needed is not None:
            rows = rows.select([n for n in heading.names if n in needed or n in allowed])
        mask = None
        for name, values in allowed.items():
            if name != key[0] and rows.num_rows:
                test = _is_in(rows.column(name), values)
                mask = test if mask is None else pc.and_kleene(mask, test)
        return rows if mask is None else rows.filter(mask)  # one filter: each copies every column

    def _restrict(self, node: Restrict, allowed: dict[str, set[Any]], needed: Needed) -> pa.Table:
        chain, child = [], node
        while isinstance(child, Restrict):
            chain.append(child.predicate)
            child = child.child  # type: ignore[assignment]  # the chain ends at the restricted node
        heading, allowed = child.heading, dict(allowed)
        semis: list[tuple[pa.Table, list[str]]] = []
        conditions: list[Callable[[pa.Table], Any]] = []
        used: set[str] = set()
        for predicate in chain:
            self._classify(predicate, heading, allowed, semis, conditions, used)
        for other, shared in semis:
            used.update(shared)
            for name in shared:
                _narrow(allowed, name, _non_null(other, name))
        rows = self.rows(child, allowed, None if needed is None else needed | used)
        for other, shared in semis:
            rows = _semijoin(rows, other, shared)
        if conditions and rows.num_rows:
            try:
                rows = rows.filter(_all(test(rows) for test in conditions))
            except NotSupported:  # e.g. LIKE on non-ASCII text
                raise _GiveUp from None
        return rows

    def _classify(self, predicate: Predicate, heading: Heading, allowed: dict[str, set[Any]],
                  semis: list[tuple[pa.Table, list[str]]], conditions: list[Callable[[pa.Table], Any]],
                  used: set[str]) -> None:
        """Add a predicate to what the rows must satisfy (and the attributes it reads to ``used``);
        give up on what is not evaluated here."""
        if predicate == Const(True):
            return
        if isinstance(predicate, AllOf) and not isinstance(predicate, AnyOf):
            for part in predicate.parts:
                self._classify(part, heading, allowed, semis, conditions, used)
        elif isinstance(predicate, Equal):
            _equalities(predicate, heading, allowed)
        elif isinstance(predicate, Semijoin):
            semis.append((self.rows(predicate.node, {}, frozenset(predicate.shared)), list(predicate.shared)))
        elif isinstance(predicate, KeyRows) and predicate.rows.num_rows <= MAX_ROWS:
            semis.append((predicate.rows, [n for n in heading.names if n in predicate.rows.column_names]))
        elif isinstance(predicate, Condition):
            conditions.append(_condition(predicate.text, heading))
            used.update(column_names(predicate.text))
            for name, values in key_values(predicate.text, heading, _NARROWING_KINDS).items():
                _narrow(allowed, name, values)
        else:
            raise _GiveUp

    def _join(self, node: Join, allowed: dict[str, set[Any]], needed: Needed) -> pa.Table:
        left_heading, right_heading = node.left.heading, node.right.heading
        shared = [n for n in left_heading.names if n in right_heading]
        if not shared:
            raise _GiveUp
        if needed is not None:
            needed = needed | set(shared)
        left = self.rows(node.left, {n: v for n, v in allowed.items() if n in left_heading}, needed)
        right_allowed = {n: v for n, v in allowed.items() if n in right_heading}
        for name in shared:  # only values the left side has can match
            _narrow(right_allowed, name, _non_null(left, name))
        right = self.rows(node.right, right_allowed, needed)
        return _present(_natural_join(left, right, shared), node.heading.names)

    def _aggregate(self, node: Aggregate, allowed: dict[str, set[Any]]) -> pa.Table:
        source, group = node.source, node.group
        computed = _aggregation(node)
        shared = [n for n in group.heading.names if n in source.heading]
        if node.keep_all_rows or not shared or any(n not in group.heading for n in allowed):
            raise _GiveUp
        key = source.heading.primary_key
        if isinstance(source, Source) and key and shared == [key[0]] and computed.counts_rows_only(key):
            return self._count_rows(node, source, allowed, computed)
        rows = self.rows(group, allowed)
        source_rows = self.rows(source, {name: _non_null(rows, name) for name in shared},
                                frozenset(shared) | computed.columns)
        aggregated = computed.apply(source_rows, shared)
        return _natural_join(rows, aggregated, shared).select(list(node.heading.names))

    def _count_rows(self, node: Aggregate, source: Source, allowed: dict[str, set[Any]],
                    computed: Aggregation) -> pa.Table:
        """Row counts per value of the source's first key attribute: the lengths of its row ranges."""
        first = source.heading.primary_key[0]
        index = self.index_of(source, None)
        if index is None:
            raise _GiveUp
        rows = _present(self.rows(node.group, allowed), node.heading.names)
        counts = index.counts(rows.column(first).to_pylist())
        if not all(counts):  # groups without rows are dropped (an inner join)
            kept = [i for i, count in enumerate(counts) if count]
            rows, counts = rows.take(pa.array(kept, pa.int64())), [counts[i] for i in kept]
        column = pa.array(counts, pa.int64())
        for name, _, _ in computed.parts:
            rows = rows.append_column(name, column)
        return rows

    def _project(self, node: Project, allowed: dict[str, set[Any]], needed: Needed) -> pa.Table:
        if node.computed:
            raise _GiveUp
        old_of = dict(node.renames)
        new_of = {old: new for new, old in node.renames}
        rows = self.rows(node.child, {old_of.get(n, n): v for n, v in allowed.items()},
                         None if needed is None else frozenset(old_of.get(n, n) for n in needed))
        present = set(rows.column_names)
        kept = [c.name for c in node.child.heading.columns
                if c.name in present and (c.in_key or c.name in node.attributes or c.name in new_of)]
        return rows.select(kept).rename_columns([new_of.get(n, n) for n in kept])


def _present(rows: pa.Table, names: Iterable[str]) -> pa.Table:
    """The columns of ``names`` that ``rows`` holds, in that order."""
    present = set(rows.column_names)
    return rows.select([n for n in names if n in present])


def _all(masks: Iterable[Any]) -> Any:
    result = None
    for mask in masks:
        result = mask if result is None else pc.and_kleene(result, mask)
    return result


def _non_null(rows: pa.Table, name: str) -> set[Any]:
    """The distinct values of a column, NULL left out (it matches nothing)."""
    return {v for v in rows.column(name).to_pylist() if v is not None}


def _narrow(allowed: dict[str, set[Any]], name: str, values: set[Any]) -> None:
    allowed[name] = allowed[name] & values if name in allowed else values


def _equalities(predicate: Equal, heading: Heading, allowed: dict[str, set[Any]]) -> None:
    """Add an equality predicate's values to ``allowed``."""
    for name, value in predicate.items:
        if value is None or heading[name].type is None or heading[name].kind not in _EXACT_KINDS:
            raise _GiveUp
        _narrow(allowed, name, {value})


def _is_in(column: pa.ChunkedArray, values: set[Any]) -> Any:
    if pa.types.is_dictionary(column.type):  # an ENUM column: compare its values
        column = column.cast(column.type.value_type)
    try:
        if len(values) == 1:
            return pc.equal(column, pa.scalar(next(iter(values)), type=column.type))
        return pc.is_in(column, value_set=pa.array(list(values), type=column.type))
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        raise _GiveUp from None


def _semijoin(rows: pa.Table, other: pa.Table, shared: list[str]) -> pa.Table:
    """Rows with a match in ``other`` on ``shared`` (already narrowed to each attribute's values)."""
    if not shared:
        return rows if other.num_rows else rows.slice(0, 0)
    if len(shared) == 1 or other.num_rows <= 1 or not rows.num_rows:
        return rows  # the narrowing was exact
    wanted = {t for t in zip(*(other.column(n).to_pylist() for n in shared), strict=True) if None not in t}
    mask = [t in wanted for t in zip(*(rows.column(n).to_pylist() for n in shared), strict=True)]
    return rows.filter(pa.array(mask, pa.bool_()))


def _natural_join(left: pa.Table, right: pa.Table, shared: list[str]) -> pa.Table:
    """Pairs of rows equal on ``shared`` (NULL matches nothing): left's columns, then right's others."""
    matches: dict[tuple[Any, ...], list[int]] = {}
    for position, values in enumerate(zip(*(right.column(n).to_pylist() for n in shared), strict=True)):
        if None not in values:
            matches.setdefault(values, []).append(position)
    left_rows, right_rows = [], []
    for position, values in enumerate(zip(*(left.column(n).to_pylist() for n in shared), strict=True)):
        for match in matches.get(values, ()):
            left_rows.append(position)
            right_rows.append(match)
    joined = left.take(pa.array(left_rows, pa.int64()))
    picked = right.take(pa.array(right_rows, pa.int64()))
    for name in right.column_names:
        if name not in shared:
            joined = joined.append_column(name, picked.column(name))
    return joined
