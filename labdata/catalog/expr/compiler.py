"""Compiling expression nodes to one DuckDB SELECT through sqlglot.

Every node becomes a SELECT whose output columns are exactly its heading's
names; nodes nest as subqueries, which DuckDB's optimizer flattens. Values
from dicts are named parameters (``$p1``); MySQL-syntax strings are parsed by
sqlglot, checked against the heading and re-rendered, never pasted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlglot import exp

from labdata.catalog.declare.heading import Heading
from labdata.catalog.expr.mysql import parse_expression
from labdata.catalog.expr.nodes import Aggregate, Join, Limit, Node, Project, Restrict, Source, Union, Universal
from labdata.catalog.expr.predicates import (
    AllOf,
    AnyOf,
    Condition,
    Const,
    Equal,
    KeyRows,
    Negate,
    Predicate,
    Semijoin,
)
from labdata.catalog.expr.sql import column, equal_on, exists, order_by
from labdata.core.errors import QueryError

__all__ = ["Params", "compile_node", "compile_sql"]


class Params:
    """What a compilation binds: named parameter values (``$p1``, ...) and Arrow relations,
    the attached database tables are read from, and the project unbound tables belong to."""

    def __init__(self, catalog: str, project: str) -> None:
        self.values: dict[str, Any] = {}
        self.catalog, self.project = catalog, project

    def relation(self, table: Any) -> str:
        """Name an Arrow table the query reads (registered on the cursor when it runs)."""
        name = f"labdata_keys_{len(self.values) + 1}"
        self.values[name] = table
        return name

    def bind(self, value: Any) -> exp.Expr:
        """Return a placeholder bound to ``value``."""
        name = f"p{len(self.values) + 1}"
        self.values[name] = value
        return exp.Placeholder(this=name)


def compile_sql(node: Node, columns: tuple[str, ...] | None = None, *,
                catalog: str = "lake", project: str = "lab_data") -> tuple[str, dict[str, Any]]:
    """Return the DuckDB SQL of ``node`` (only ``columns``, if given) and its parameters.

    Tables are read from the attached database ``catalog``; tables not bound to a project
    are read from ``project``'s schemas. No lake is needed.
    """
    params = Params(catalog, project)
    select = compile_node(node, params, 0)
    if columns is not None:
        select = _narrowed(select, tuple(dict.fromkeys(columns)))
    return select.sql(dialect="duckdb", copy=False), params.values


def _narrowed(select: exp.Select, columns: tuple[str, ...]) -> exp.Select:
    """``select`` returning only ``columns``: its own output list cut down, or wrapped in a SELECT."""
    outputs = {e.alias_or_name: e for e in select.expressions}
    joined = select.args.get("distinct") or select.args.get("joins") or select.args.get("group")
    if joined or not all(n in outputs for n in columns):  # (then ORDER BY a name may be ambiguous)
        return exp.select(*(column("q", n) for n in columns), copy=False).from_(
            select.subquery("q", copy=False), copy=False)
    select.set("expressions", [outputs[n] for n in columns])
    return select


def compile_node(node: Node, params: Params, depth: int) -> exp.Select:
    """Return the sqlglot SELECT of ``node``, binding values into ``params``."""
    visit = _VISITORS.get(type(node))
    if visit is None:
        raise QueryError(f"Cannot compile a {type(node).__name__} node.",
                         hint="This query cannot be run on its own; restrict or aggregate it.")
    return visit(node, params, depth)


def _alias(depth: int) -> str:
    return f"t{depth}"


def _select(outputs: Any, node: Node, params: Params, depth: int, alias: str) -> exp.Select:
    """``SELECT outputs FROM <node> AS alias``, built in place (sqlglot's builders copy by default)."""
    return exp.select(*outputs, copy=False).from_(_from_item(node, params, depth + 1, alias), copy=False)


def _from_item(node: Node, params: Params, depth: int, alias: str,
               needed: list[str] | None = None) -> exp.Expr:
    """What a SELECT reads ``node`` from: a declared table itself, anything else as a subquery
    (returning only the ``needed`` attributes, if given)."""
    if isinstance(node, Source):
        return _table(node, params).as_(alias, copy=False)
    select = compile_node(node, params, depth)
    if needed is not None:
        select = _narrowed(select, tuple(n for n in node.heading.names if n in needed))
    return select.subquery(alias, copy=False)


def _table(node: Source, params: Params) -> exp.Table:
    return exp.Table(this=exp.to_identifier(node.sql_name, quoted=True),
                     db=exp.to_identifier(node.schema(params.project), quoted=True),
                     catalog=exp.to_identifier(params.catalog))


def _join_to(select: exp.Select, item: exp.Expr, kind: str, on: exp.Expr | None = None) -> exp.Select:
    """Append ``<kind> JOIN item ON on`` to ``select`` (kind: INNER, LEFT, SEMI, ANTI, CROSS)."""
    join = exp.Join(this=item, on=on, side="LEFT") if kind == "LEFT" else exp.Join(this=item, on=on, kind=kind)
    select.append("joins", join)
    return select


def _source(node: Source, params: Params, depth: int) -> exp.Select:
    alias = _alias(depth)
    return exp.select(*(column(alias, n) for n in node.heading.names), copy=False).from_(
        _table(node, params).as_(alias, copy=False), copy=False)


def _restrict(node: Restrict, params: Params, depth: int) -> exp.Select:
    """A chain of restrictions as one SELECT: SEMI/ANTI JOINs for semijoins, one WHERE for the rest."""
    if isinstance(node.child, Universal):
        return _universal_restrict(node, params, depth)
    chain: list[Predicate] = []
    base: Node = node
    while isinstance(base, Restrict) and not isinstance(base.child, Universal):
        chain.append(base.predicate)
        base = base.child
    alias = _alias(depth)
    select = _select((column(alias, n) for n in node.heading.names), base, params, depth, alias)
    for number, predicate in enumerate(reversed(chain)):
        negated = isinstance(predicate, Negate)
        inner_predicate = predicate.part if isinstance(predicate, Negate) else predicate
        if isinstance(inner_predicate, Semijoin) and inner_predicate.shared:
            inner, shared = f"s{depth}_{number}", inner_predicate.shared
            _join_to(select, _from_item(inner_predicate.node, params, depth + 1, inner, list(shared)),
                     "ANTI" if negated else "SEMI", equal_on(alias, inner, shared))
        elif predicate != Const(True):
            select = select.where(condition(predicate, base.heading, alias, params, depth), copy=False)
    return select


def _universal_restrict(node: Restrict, params: Params, depth: int) -> exp.Select:
    """``U('a', 'b') & query``: the distinct combinations of a and b in query."""
    if not isinstance(node.predicate, Semijoin):
        raise QueryError("A universal set can only be restricted by a query (U('a') & table).",
                         hint="Write U('attribute') & query.")
    names = node.child.attributes  # type: ignore[attr-defined]
    other = node.predicate.node
    other.heading.require(names, "The query restricting U(...)")
    alias = _alias(depth)
    return _select((column(alias, n) for n in names), other, params, depth, alias).distinct(copy=False)


def condition(predicate: Predicate, heading: Heading, alias: str, params: Params, depth: int) -> exp.Expr:
    """Return the SQL condition of ``predicate`` on ``alias``, a row with ``heading``."""
    if isinstance(predicate, Const):
        return exp.true() if predicate.value else exp.false()
    if isinstance(predicate, Negate):
        return exp.not_(condition(predicate.part, heading, alias, params, depth), copy=False)
    if isinstance(predicate, AnyOf | AllOf):
        parts = [condition(part, heading, alias, params, depth) for part in predicate.parts]
        return exp.or_(*parts, copy=False) if isinstance(predicate, AnyOf) else exp.and_(*parts, copy=False)
    if isinstance(predicate, Condition):
        return parse_expression(predicate.text, dict.fromkeys(heading.names, alias), heading)
    if isinstance(predicate, Equal):
        return exp.and_(*(exp.Is(this=column(alias, name), expression=exp.null()) if value is None
                          else exp.EQ(this=column(alias, name), expression=params.bind(value))
                          for name, value in predicate.items), copy=False)
    if isinstance(predicate, KeyRows):
        name = params.relation(predicate.rows)
        inner = f"{name}_row"
        return exists(exp.Table(this=exp.to_identifier(name)).as_(inner, copy=False), inner, alias,
                      predicate.rows.column_names)
    if isinstance(predicate, Semijoin):
        inner = f"s{depth}"
        subquery = compile_node(predicate.node, params, depth + 1).subquery(inner, copy=False)
        return exists(subquery, inner, alias, predicate.shared)
    raise QueryError(f"Cannot compile a {type(predicate).__name__} restriction.",
                     hint="Restrict by a dict, a string condition, another query or a list of these.")


def _join(node: Join, params: Params, depth: int) -> exp.Select:
    if isinstance(node.left, Universal):  # U('a') * q: the rows of q (a joins its primary key)
        return compile_node(node.right, params, depth)
    left_alias, right_alias = f"l{depth}", f"r{depth}"
    left, right = node.left.heading, node.right.heading
    shared = [n for n in left.names if n in right]
    outputs = [column(left_alias if n in left else right_alias, n) for n in node.heading.names]  # named n
    select = _select(outputs, node.left, params, depth, left_alias)
    right_query = _from_item(node.right, params, depth + 1, right_alias)
    if shared:
        return _join_to(select, right_query, "INNER", equal_on(left_alias, right_alias, shared))
    return _join_to(select, right_query, "CROSS")


def _project(node: Project, params: Params, depth: int) -> exp.Select:
    alias = _alias(depth)
    child = node.child.heading
    renamed = {old: new for new, old in node.renames}
    outputs: list[exp.Expr] = []
    for name in child.names:
        if name in renamed:
            outputs.append(column(alias, name).as_(renamed[name], copy=False))
        elif child[name].in_key or name in node.attributes:
            outputs.append(column(alias, name))
    for new, text in node.computed:
        outputs.append(parse_expression(text, dict.fromkeys(child.names, alias), child).as_(new, copy=False))
    return _select(outputs, node.child, params, depth, alias)


def _aggregate(node: Aggregate, params: Params, depth: int) -> exp.Select:
    source_alias, group_alias = f"s{depth}", f"g{depth}"
    source = node.source.heading
    universal = isinstance(node.group, Universal)
    group_names = () if universal else node.group.heading.names
    scopes = {**dict.fromkeys(group_names, group_alias), **dict.fromkeys(source.names, source_alias)}
    computed = [parse_expression(text, scopes, _merged_heading(node)).as_(new, copy=False)
                for new, text in node.computed]
    used = [c.name for e in computed for c in e.find_all(exp.Column) if c.table == source_alias]
    if isinstance(node.group, Universal):
        names = node.group.attributes
        source.require(names, "The aggregated query")
        keys = [column(source_alias, n) for n in names]
        select = exp.select(*keys, copy=False).from_(
            _from_item(node.source, params, depth + 1, source_alias, [*names, *used]), copy=False)
    else:
        keys = [column(group_alias, n) for n in node.heading.names if n in group_names]
        select = _select(keys, node.group, params, depth, group_alias)
        shared = [n for n in group_names if n in source]
        on = equal_on(group_alias, source_alias, shared) if shared else exp.true()
        _join_to(select, _from_item(node.source, params, depth + 1, source_alias, [*shared, *used]),
                 "LEFT" if node.keep_all_rows else "INNER", on)
    select = select.select(*computed, copy=False)
    return select.group_by(*(key.copy() for key in keys), copy=False) if keys else select


def _merged_heading(node: Aggregate) -> Heading:
    group = () if isinstance(node.group, Universal) else node.group.heading.columns
    columns = {c.name: c for c in (*group, *node.source.heading.columns)}
    return Heading(tuple(columns.values()))


def _limit(node: Limit, params: Params, depth: int) -> exp.Select:
    """``q & Top(...)``: the ordered, limited rows of the child, as a subquery (so that more may be added)."""
    alias, inner = _alias(depth), f"k{depth}"
    select = _select((column(inner, n) for n in node.heading.names), node.child, params, depth, inner)
    select = select.order_by(order_by(node.child.heading, node.order_by), dialect="duckdb", copy=False)
    if node.limit is not None:
        select = select.limit(int(node.limit), copy=False)
    if node.offset:
        select = select.offset(int(node.offset), copy=False)
    return exp.select(*(column(alias, n) for n in node.heading.names), copy=False).from_(
        select.subquery(alias, copy=False), copy=False)


def _outer_union(node: Union, params: Params, depth: int) -> exp.Select:
    """DataJoint's union of relations with different secondary attributes: a full outer join on the key."""
    left_alias, right_alias = f"a{depth}", f"b{depth}"
    left, keys = node.left.heading, node.heading.primary_key
    outputs = [exp.func("COALESCE", column(left_alias, n), column(right_alias, n)).as_(n, copy=False)
               if n in keys else column(left_alias if n in left else right_alias, n) for n in node.heading.names]
    select = _select(outputs, node.left, params, depth, left_alias)
    right = _from_item(node.right, params, depth + 1, right_alias)
    select.append("joins", exp.Join(this=right, on=equal_on(left_alias, right_alias, keys), side="FULL"))
    return select


def _union(node: Union, params: Params, depth: int) -> exp.Select:
    if node.outer:
        return _outer_union(node, params, depth)
    left = node.left.heading
    alias = _alias(depth)
    names = left.names
    first = _select((column(f"a{depth}", n) for n in names), node.left, params, depth, f"a{depth}")
    second = _select((column(f"b{depth}", n) for n in names), node.right, params, depth, f"b{depth}")
    union = exp.union(first, second, distinct=True, copy=False).subquery(alias, copy=False)
    return exp.select(*(column(alias, n) for n in names), copy=False).from_(union, copy=False)


def _universal(node: Universal, params: Params, depth: int) -> exp.Select:
    raise QueryError("A universal set U(...) cannot be fetched on its own.",
                     hint="Restrict it by a query (U('a') & query) or aggregate with it (U('a').aggr(...)).")


_VISITORS: dict[type[Node], Callable[..., exp.Select]] = {
    Source: _source, Restrict: _restrict, Join: _join, Project: _project, Aggregate: _aggregate,
    Union: _union, Universal: _universal, Limit: _limit}
