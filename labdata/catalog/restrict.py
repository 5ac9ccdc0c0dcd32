"""Restrictions: turning what users write after ``&`` into sqlglot conditions.

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
numpy record, DataFrame             as the dict / list of dicts of their rows
==================================  ==============================================

``A - cond`` keeps the rows that ``A & cond`` drops, so ``A - []`` is A and
``A - AndList()`` is empty. Values are named parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlglot import exp

from labdata.catalog.keys import KeyList
from labdata.core.errors import DataError, QueryError

if TYPE_CHECKING:
    from labdata.catalog.expr import Heading

__all__ = ["AndList", "Not", "Params", "column", "condition"]


class AndList(list):
    """A list of restrictions that must all hold (a plain list means OR)."""


class Not:
    """The negation of a restriction: ``Session & Not(key)`` equals ``Session - key``."""

    def __init__(self, restriction: Any) -> None:
        self.restriction = restriction


class Params:
    """Collects named parameter values (``$p1``, ``$p2``, ...) while a query is compiled."""

    def __init__(self, catalog: str | None = None) -> None:
        self.values: dict[str, Any] = {}
        self.catalog = catalog

    def relation(self, table: Any) -> str:
        """Name an Arrow table the query reads (registered on the cursor when it runs)."""
        name = f"labdata_keys_{len(self.values) + 1}"
        self.values[name] = table
        return name

    def bind(self, value: Any) -> exp.Expression:
        """Return a placeholder bound to ``value``."""
        name = f"p{len(self.values) + 1}"
        self.values[name] = value
        return exp.Placeholder(this=name)


def column(alias: str, name: str) -> exp.Column:
    """Return the quoted column ``alias."name"``."""
    return exp.Column(this=exp.Identifier(this=name, quoted=True), table=exp.Identifier(this=alias, quoted=False))


def equal_on(left: str, right: str, names: list[str]) -> exp.Expression:
    """``left."a" = right."a" AND ...`` over ``names``."""
    return exp.and_(*(exp.EQ(this=column(left, n), expression=column(right, n)) for n in names), copy=False)


def _exists(source: exp.Expression, inner: str, alias: str, shared: list[str]) -> exp.Expression:
    """``EXISTS (SELECT 1 FROM source WHERE inner.a = alias.a ...)`` over ``shared``; ``source`` is aliased ``inner``."""
    probe = exp.select("1", copy=False).from_(source, copy=False)
    if shared:
        probe = probe.where(equal_on(inner, alias, shared), copy=False)
    return exp.Exists(this=probe)


def condition(restriction: Any, heading: Heading, alias: str, params: Params, depth: int) -> exp.Expression:
    """Return the condition of one restriction on ``alias``, a row with ``heading``."""
    from labdata.catalog.query import Query, instance_of_table

    restriction = instance_of_table(restriction)
    if isinstance(restriction, Not):
        return exp.not_(condition(restriction.restriction, heading, alias, params, depth), copy=False)
    if restriction is None or isinstance(restriction, bool | np.bool_):
        return exp.true() if restriction else exp.false()
    if isinstance(restriction, Query):
        return _semijoin(restriction, heading, alias, params, depth)
    if isinstance(restriction, str):
        from labdata.catalog.mysql import parse_expression

        return parse_expression(restriction, {n: alias for n in heading.names}, heading)
    if isinstance(restriction, np.void):
        restriction = dict(zip(restriction.dtype.names, restriction.tolist(), strict=True))
    if isinstance(restriction, Mapping):
        return _mapping(restriction, heading, alias, params)
    if isinstance(restriction, KeyList):
        return _key_list(restriction, heading, alias, params)
    if hasattr(restriction, "to_dict") and hasattr(restriction, "columns"):
        restriction = restriction.to_dict("records")
    if isinstance(restriction, AndList):
        parts = [condition(r, heading, alias, params, depth) for r in restriction]
        return exp.and_(*parts, copy=False) if parts else exp.true()
    if isinstance(restriction, list | tuple | set | np.ndarray):
        parts = [condition(r, heading, alias, params, depth) for r in restriction]
        return exp.or_(*parts, copy=False) if parts else exp.false()
    raise QueryError(f"Cannot restrict by a {type(restriction).__name__}: {restriction!r:.80}.",
                     hint="Restrict by a dict, a string condition, another query or a list of these.")


def _mapping(restriction: Mapping[str, Any], heading: Heading, alias: str, params: Params) -> exp.Expression:
    values = {}
    for name, value in restriction.items():
        if name not in heading:
            continue  # DataJoint semantics: keys the relation lacks are ignored
        attribute = heading[name]
        if value is not None and attribute.kind in ("blob", "longblob"):
            raise QueryError(f"Cannot restrict by the blob attribute {name!r}.",
                             hint="Restrict by key attributes or scalar attributes.")
        if isinstance(value, np.generic):
            value = value.item()
        if value is not None and attribute.type is not None:
            try:
                value = attribute.type.coerce(value, name)
            except DataError:
                return exp.false()  # a value the attribute cannot hold matches no row (nothing bound)
        values[name] = value
    parts = [exp.Is(this=column(alias, name), expression=exp.null()) if value is None
             else exp.EQ(this=column(alias, name), expression=params.bind(value)) for name, value in values.items()]
    return exp.and_(*parts, copy=False) if parts else exp.true()


def _key_list(keys: KeyList, heading: Heading, alias: str, params: Params) -> exp.Expression:
    """Rows whose shared attributes equal one of the fetched keys: EXISTS over the keys' Arrow table."""
    shared = [name for name in keys.names if name in heading]
    if not len(keys):
        return exp.false()
    if not shared:
        return exp.true()
    name = params.relation(keys.to_arrow().select(shared))
    inner = f"{name}_row"
    return _exists(exp.Table(this=exp.to_identifier(name)).as_(inner, copy=False), inner, alias, shared)


def _semijoin(other: Any, heading: Heading, alias: str, params: Params, depth: int) -> exp.Expression:
    from labdata.catalog.compiler import compile_node

    shared = [name for name in heading.names if name in other.heading]
    inner = f"s{depth}"
    return _exists(compile_node(other.node, params, depth + 1).subquery(inner, copy=False), inner, alias, shared)
