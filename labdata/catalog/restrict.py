"""Restrictions: turning what users write after ``&`` into sqlglot conditions.

==================================  ==============================================
restriction                         rows kept
==================================  ==============================================
``dict``                            equal on the keys the table has (others ignored)
``str`` (MySQL syntax)              where the condition holds
another query                       with a match on the shared attributes (semijoin)
``list`` / ``tuple`` / ``set``      matching any element (OR); empty: none
:class:`AndList`                    matching every element
:class:`Not`                        not matching the wrapped restriction
``True`` / ``False``                all / none
numpy record, DataFrame             as the dict / list of dicts of their rows
==================================  ==============================================

Values are bound parameters; strings are parsed by sqlglot (MySQL dialect),
checked for unknown attribute names, and rendered for DuckDB.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlglot
from sqlglot import exp

from labdata.core.errors import DataError, QueryError, did_you_mean

if TYPE_CHECKING:
    from labdata.catalog.declare import TableSchema
    from labdata.catalog.query import Query

__all__ = ["AndList", "Not", "condition"]


class AndList(list):
    """A list of restrictions that must all hold (a plain list means OR)."""


class Not:
    """The negation of a restriction: ``Session & Not(key)`` equals ``Session - key``."""

    def __init__(self, restriction: Any) -> None:
        self.restriction = restriction


class Params:
    """Collects bound parameter values while a query is compiled."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def bind(self, value: Any) -> exp.Expression:
        """Return a ``?`` placeholder bound to ``value``."""
        self.values.append(value)
        return exp.Placeholder()


def condition(restriction: Any, table: TableSchema, alias: str, params: Params, depth: int) -> exp.Expression:
    """Return the sqlglot condition for one restriction on ``alias`` (a row of ``table``)."""
    from labdata.catalog.query import Query

    if isinstance(restriction, type) and hasattr(restriction, "table_schema"):
        restriction = restriction()  # a table class restricts like its instance
    if isinstance(restriction, Not):
        return exp.not_(condition(restriction.restriction, table, alias, params, depth))
    if isinstance(restriction, bool | np.bool_):
        return exp.true() if restriction else exp.false()
    if isinstance(restriction, Query):
        return _semijoin(restriction, table, alias, params, depth)
    if isinstance(restriction, str):
        return _string(restriction, table, alias)
    if isinstance(restriction, np.void):
        restriction = dict(zip(restriction.dtype.names, restriction.tolist(), strict=True))
    if isinstance(restriction, Mapping):
        return _mapping(restriction, table, alias, params)
    if hasattr(restriction, "to_dict") and hasattr(restriction, "columns"):
        restriction = restriction.to_dict("records")
    if isinstance(restriction, AndList):
        parts = [condition(r, table, alias, params, depth) for r in restriction]
        return exp.and_(*parts) if parts else exp.true()
    if isinstance(restriction, list | tuple | set | np.ndarray):
        parts = [condition(r, table, alias, params, depth) for r in restriction]
        return exp.or_(*parts) if parts else exp.false()
    if restriction is None:
        return exp.true()
    raise QueryError(f"Cannot restrict by a {type(restriction).__name__}: {restriction!r}.",
                     hint="Restrict by a dict, a string condition, another query or a list of these.")


def column(alias: str, name: str) -> exp.Column:
    """Return the quoted column ``alias."name"``."""
    return exp.column(exp.to_identifier(name, quoted=True), table=exp.to_identifier(alias))


def _mapping(restriction: Mapping[str, Any], table: TableSchema, alias: str, params: Params) -> exp.Expression:
    parts = []
    for name, value in restriction.items():
        if name not in table:
            continue  # DataJoint semantics: keys the table lacks are ignored
        attribute = table[name]
        if value is None:
            parts.append(exp.Is(this=column(alias, name), expression=exp.null()))
        elif attribute.type.is_blob:
            raise QueryError(f"Cannot restrict by the blob attribute {name!r}.",
                             hint="Restrict by key attributes or scalar attributes.")
        else:
            try:
                bound = attribute.type.coerce(value, name)
            except DataError:
                return exp.false()  # a value the column cannot hold matches no row
            parts.append(exp.EQ(this=column(alias, name), expression=params.bind(bound)))
    return exp.and_(*parts) if parts else exp.true()


def _semijoin(other: Query, table: TableSchema, alias: str, params: Params, depth: int) -> exp.Expression:
    inner_alias = f"s{depth}"
    shared = [name for name in table.names if name in other.attribute_names]
    subquery = other.select_expression(params=params, depth=depth + 1)
    where = [exp.EQ(this=column(inner_alias, name), expression=column(alias, name)) for name in shared]
    probe = exp.select("1").from_(subquery.subquery(inner_alias))
    if where:
        probe = probe.where(exp.and_(*where))
    return exp.Exists(this=probe)


def _string(text: str, table: TableSchema, alias: str) -> exp.Expression:
    try:
        parsed = sqlglot.parse_one(text, read="mysql")
    except sqlglot.errors.ParseError as error:
        raise QueryError(f"Cannot parse the restriction {text!r}: {error}",
                         hint="Write the condition in MySQL syntax, e.g. 'session_name LIKE \"2024%\"'.") from None
    for node in parsed.find_all(exp.Column):
        name = node.name
        if name not in table:
            raise QueryError(
                f"Unknown attribute {name!r} in the restriction {text!r} of {table.class_name}."
                f"{did_you_mean(name, table.names)}",
                hint=f"Attributes of {table.class_name}: {', '.join(table.names)}.",
            )
        node.replace(column(alias, name))
    return parsed
