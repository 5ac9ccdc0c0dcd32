"""Small sqlglot builders the compiler and the MySQL translation share."""

from __future__ import annotations

from sqlglot import exp

__all__ = ["column", "equal_on", "exists"]


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
