"""Small sqlglot builders the compiler and the MySQL translation share."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

from labdata.core.errors import QueryError

if TYPE_CHECKING:
    from labdata.catalog.declare.heading import Heading

__all__ = ["column", "equal_on", "exists", "order_by"]


def column(alias: str, name: str) -> exp.Column:
    """Return the quoted column ``alias."name"``."""
    return exp.Column(this=exp.Identifier(this=name, quoted=True), table=exp.Identifier(this=alias, quoted=False))


def equal_on(left: str, right: str, names: list[str] | tuple[str, ...]) -> exp.Expr:
    """``left."a" = right."a" AND ...`` over ``names``."""
    return exp.and_(*(exp.EQ(this=column(left, n), expression=column(right, n)) for n in names), copy=False)


def exists(source: exp.Expr, inner: str, alias: str, shared: list[str] | tuple[str, ...]) -> exp.Expr:
    """``EXISTS (SELECT 1 FROM source WHERE inner.a = alias.a ...)`` over ``shared``; ``source`` is aliased
    ``inner``."""
    probe = exp.select("1", copy=False).from_(source, copy=False)
    if shared:
        probe = probe.where(equal_on(inner, alias, shared), copy=False)
    return exp.Exists(this=probe)


def order_by(heading: Heading, terms: list[str] | tuple[str, ...]) -> str:
    """The DuckDB ORDER BY list of ``terms`` (``'KEY'``, ``'attr'``, ``'attr DESC'``) on ``heading``.

    As MySQL sorts: an enum by its values' declared order, NULL first in ascending order and
    last in descending order.

    Raises
    ------
    QueryError
        For a malformed term or an attribute ``heading`` lacks.
    """
    return ", ".join(_order_term(heading, term) for term in terms)


def _order_term(heading: Heading, term: str) -> str:
    name, _, direction = term.strip().partition(" ")
    direction = direction.strip()
    if direction.upper() not in ("", "ASC", "DESC"):
        raise QueryError(f"Cannot order by {term!r}.", hint="Use 'attribute', 'attribute ASC' or 'attribute DESC'.")
    if name == "KEY":
        return ", ".join(f"{_sort_key(heading, k)} {direction}".strip() for k in heading.primary_key) or "1"
    heading.require([name], "The query")
    nulls = "NULLS LAST" if direction.upper() == "DESC" else "NULLS FIRST"
    return f"{_sort_key(heading, name)} {direction} {nulls}".replace("  ", " ")


def _sort_key(heading: Heading, name: str) -> str:
    column = heading[name]
    if column.kind != "enum" or column.type is None:
        return f'"{name}"'
    values = ", ".join("'" + value.replace("'", "''") + "'" for value in column.type.values)
    return f'list_position([{values}], "{name}")'
