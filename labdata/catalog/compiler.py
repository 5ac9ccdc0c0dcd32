"""Compiling expression nodes to one DuckDB SELECT through sqlglot.

Every node becomes a SELECT whose output columns are exactly its heading's
names; nodes nest as subqueries, which DuckDB's optimizer flattens. Values
from dicts are named parameters (``$p1``); MySQL-syntax strings are parsed by
sqlglot, checked against the heading and re-rendered, never pasted.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from labdata.catalog.expr import Aggregate, Join, Node, Project, Restrict, Source, Union, Universal
from labdata.catalog.mysql import parse_expression
from labdata.catalog.restrict import Params, column, condition
from labdata.core.errors import QueryError

__all__ = ["compile_node", "compile_sql"]


def compile_sql(node: Node, columns: tuple[str, ...] | None = None, *,
                catalog: str | None = None) -> tuple[str, dict[str, Any]]:
    """Return the DuckDB SQL of ``node`` (only ``columns``, if given) and its parameters.

    Tables are read from the attached database ``catalog`` (default: each table's lake).
    """
    params = Params(catalog)
    select = compile_node(node, params, 0)
    if columns is not None:
        select = exp.select(*(column("q", n) for n in columns)).from_(select.subquery("q"))
    return select.sql(dialect="duckdb"), params.values


def compile_node(node: Node, params: Params, depth: int) -> exp.Select:
    """Return the sqlglot SELECT of ``node``, binding values into ``params``."""
    visit = _VISITORS.get(type(node))
    if visit is None:
        raise QueryError(f"Cannot compile a {type(node).__name__} node.",
                         hint="This query cannot be run on its own; restrict or aggregate it.")
    return visit(node, params, depth)


def _alias(depth: int) -> str:
    return f"t{depth}"


def _source(node: Source, params: Params, depth: int) -> exp.Select:
    table = node.table
    schema = table.table_schema()
    qualified = table.context.qualified(schema.tier_group, schema.sql_name, catalog=params.catalog)
    alias = _alias(depth)
    return exp.select(*(column(alias, n) for n in schema.names)).from_(
        exp.to_table(qualified, dialect="duckdb").as_(alias))


def _restrict(node: Restrict, params: Params, depth: int) -> exp.Select:
    if isinstance(node.child, Universal):
        return _universal_restrict(node, params, depth)
    semijoin = _semijoin(node, params, depth)
    if semijoin is not None:
        return semijoin
    alias = _alias(depth)
    inner = compile_node(node.child, params, depth + 1)
    clause = condition(node.restriction, node.child.heading, alias, params, depth)
    clause = exp.not_(clause) if node.negate else clause
    return exp.select(*(column(alias, n) for n in node.heading.names)).from_(inner.subquery(alias)).where(clause)


def _semijoin(node: Restrict, params: Params, depth: int) -> exp.Select | None:
    """``A & query`` as a SEMI JOIN (``A - query``: ANTI JOIN) on the shared attributes.

    Same rows as a correlated EXISTS on equality (NULL matches nothing), but DuckDB plans
    it as a join driven by the small side instead of scanning and de-duplicating A.
    """
    from labdata.catalog.query import Query

    other = node.restriction() if isinstance(node.restriction, type) and hasattr(node.restriction, "table_schema") \
        else node.restriction
    if not isinstance(other, Query):
        return None
    shared = [n for n in node.child.heading.names if n in other.heading]
    if not shared:
        return None
    alias, inner = _alias(depth), f"s{depth}"
    select = exp.select(*(column(alias, n) for n in node.heading.names)).from_(
        compile_node(node.child, params, depth + 1).subquery(alias))
    on = exp.and_(*(exp.EQ(this=column(alias, n), expression=column(inner, n)) for n in shared))
    return select.join(compile_node(other.node, params, depth + 1).subquery(inner), on=on,
                       join_type="anti" if node.negate else "semi")


def _universal_restrict(node: Restrict, params: Params, depth: int) -> exp.Select:
    """``U('a', 'b') & query``: the distinct combinations of a and b in query."""
    from labdata.catalog.query import Query

    if node.negate or not isinstance(node.restriction, Query):
        raise QueryError("A universal set can only be restricted by a query (U('a') & table).",
                         hint="Write U('attribute') & query.")
    names = node.child.attributes
    node.restriction.heading.require(names, "The query restricting U(...)")
    alias = _alias(depth)
    inner = compile_node(node.restriction.node, params, depth + 1)
    return exp.select(*(column(alias, n) for n in names)).distinct().from_(inner.subquery(alias))


def _join(node: Join, params: Params, depth: int) -> exp.Select:
    left_alias, right_alias = f"l{depth}", f"r{depth}"
    left, right = node.left.heading, node.right.heading
    shared = [n for n in left.names if n in right]
    outputs = [column(left_alias if n in left else right_alias, n).as_(n) for n in node.heading.names]
    select = exp.select(*outputs).from_(compile_node(node.left, params, depth + 1).subquery(left_alias))
    right_query = compile_node(node.right, params, depth + 1).subquery(right_alias)
    if shared:
        on = exp.and_(*(exp.EQ(this=column(left_alias, n), expression=column(right_alias, n)) for n in shared))
        return select.join(right_query, on=on, join_type="inner")
    return select.join(right_query, join_type="cross")


def _project(node: Project, params: Params, depth: int) -> exp.Select:
    alias = _alias(depth)
    child = node.child.heading
    renamed = {old: new for new, old in node.renames}
    outputs: list[exp.Expression] = []
    for name in child.names:
        if name in renamed:
            outputs.append(column(alias, name).as_(renamed[name]))
        elif child[name].in_key or name in node.attributes:
            outputs.append(column(alias, name))
    for new, text in node.computed:
        outputs.append(parse_expression(text, {n: alias for n in child.names}, child).as_(new))
    inner = compile_node(node.child, params, depth + 1)
    return exp.select(*outputs).from_(inner.subquery(alias))


def _aggregate(node: Aggregate, params: Params, depth: int) -> exp.Select:
    source_alias = f"s{depth}"
    source = node.source.heading
    if isinstance(node.group, Universal):
        names = node.group.attributes
        source.require(names, "The aggregated query")
        keys = [column(source_alias, n) for n in names]
        scopes = {n: source_alias for n in source.names}
        select = exp.select(*keys).from_(compile_node(node.source, params, depth + 1).subquery(source_alias))
    else:
        group_alias = f"g{depth}"
        group = node.group.heading
        kept = [n for n in node.heading.names if n in group]
        keys = [column(group_alias, n) for n in kept]
        scopes = {**{n: group_alias for n in group.names}, **{n: source_alias for n in source.names}}
        select = exp.select(*keys).from_(compile_node(node.group, params, depth + 1).subquery(group_alias))
        shared = [n for n in group.names if n in source]
        on = exp.and_(*(exp.EQ(this=column(group_alias, n), expression=column(source_alias, n)) for n in shared)) \
            if shared else exp.true()
        select = select.join(compile_node(node.source, params, depth + 1).subquery(source_alias), on=on,
                             join_type="left" if node.keep_all_rows else "inner")
    merged = _merged_heading(node)
    for new, text in node.computed:
        select = select.select(parse_expression(text, scopes, merged).as_(new))
    return select.group_by(*keys) if keys else select


def _merged_heading(node: Aggregate) -> Any:
    from labdata.catalog.expr import Heading

    group = () if isinstance(node.group, Universal) else node.group.heading.columns
    columns = {c.name: c for c in (*group, *node.source.heading.columns)}
    return Heading(tuple(columns.values()))


def _union(node: Union, params: Params, depth: int) -> exp.Select:
    left, right = node.left.heading, node.right.heading
    if set(left.primary_key) != set(right.primary_key) or set(left.names) != set(right.names):
        raise QueryError("A union needs two queries with the same attributes and primary key.",
                         hint="Project both sides to the same attributes first.")
    alias = _alias(depth)
    names = left.names
    first = exp.select(*(column(f"a{depth}", n) for n in names)).from_(
        compile_node(node.left, params, depth + 1).subquery(f"a{depth}"))
    second = exp.select(*(column(f"b{depth}", n) for n in names)).from_(
        compile_node(node.right, params, depth + 1).subquery(f"b{depth}"))
    return exp.select(*(column(alias, n) for n in names)).from_(exp.union(first, second, distinct=True).subquery(alias))


def _universal(node: Universal, params: Params, depth: int) -> exp.Select:
    raise QueryError("A universal set U(...) cannot be fetched on its own.",
                     hint="Restrict it by a query (U('a') & query) or aggregate with it (U('a').aggr(...)).")


_VISITORS = {Source: _source, Restrict: _restrict, Join: _join, Project: _project, Aggregate: _aggregate,
             Union: _union, Universal: _universal}
