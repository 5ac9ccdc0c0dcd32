"""MySQL conditions on numeric attributes, evaluated on Arrow rows as DuckDB evaluates them.

:mod:`labdata.catalog.expr.lookup` filters the rows it found by key with the string
restrictions users write most (``isi_contamination < 0.1 AND presence_ratio > 0.6``):
comparisons of an integer or float attribute with a number, ``AND``, ``OR``,
``NOT`` and ``IS NULL``, with SQL's three-valued logic. A FLOAT attribute is
compared as FLOAT, as DuckDB compares it with a decimal literal. Anything else
raises :class:`NotSupported` and the query goes to DuckDB.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from labdata.catalog.expr.mysql import parse_text

if TYPE_CHECKING:
    from labdata.catalog.declare.heading import Heading

__all__ = ["NotSupported", "numeric_condition"]

_NUMERIC_KINDS = frozenset({"integer", "float"})
_COMPARE: dict[type[exp.Expr], Any] = {exp.EQ: pc.equal, exp.NEQ: pc.not_equal, exp.GT: pc.greater,
                                       exp.GTE: pc.greater_equal, exp.LT: pc.less, exp.LTE: pc.less_equal}
_MIRRORED = {pc.greater: pc.less, pc.less: pc.greater, pc.greater_equal: pc.less_equal,
             pc.less_equal: pc.greater_equal}


class NotSupported(Exception):  # noqa: N818 - a signal, not an error the user sees
    """The condition uses something this module does not evaluate."""


def numeric_condition(text: str, heading: Heading) -> Callable[[pa.Table], Any]:
    """A MySQL condition comparing numeric attributes with numbers, as a function of the rows."""
    return _compile(parse_text(text), heading)


def _compile(node: exp.Expr, heading: Heading) -> Callable[[pa.Table], Any]:
    if isinstance(node, exp.Paren):
        return _compile(node.this, heading)
    if isinstance(node, exp.And | exp.Or):
        left, right = _compile(node.this, heading), _compile(node.expression, heading)
        combine = pc.and_kleene if isinstance(node, exp.And) else pc.or_kleene
        return lambda rows: combine(left(rows), right(rows))
    if isinstance(node, exp.Not):
        inner = _compile(node.this, heading)
        return lambda rows: pc.invert(inner(rows))
    if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null):
        name = _numeric_column(node.this, heading)
        return lambda rows: pc.is_null(rows.column(name))
    compare = _COMPARE.get(type(node))
    if compare is None:
        raise NotSupported
    if isinstance(node.this, exp.Column):
        name, number = _numeric_column(node.this, heading), _number(node.expression)
    else:
        name, number = _numeric_column(node.expression, heading), _number(node.this)
        compare = _MIRRORED.get(compare, compare)
    return lambda rows: compare(rows.column(name), _scalar(number, rows.column(name).type))


def _numeric_column(node: exp.Expr, heading: Heading) -> str:
    if not isinstance(node, exp.Column) or node.table or node.name not in heading \
            or heading[node.name].kind not in _NUMERIC_KINDS:
        raise NotSupported
    return node.name


def _number(node: exp.Expr) -> int | float:
    negative = isinstance(node, exp.Neg)
    literal = node.this if negative else node
    if not isinstance(literal, exp.Literal) or literal.is_string:
        raise NotSupported
    text = literal.this
    try:
        value = int(text) if text.lstrip("-").isdigit() else float(text)
    except ValueError:
        raise NotSupported from None
    return -value if negative else value


def _scalar(number: int | float, column_type: pa.DataType) -> pa.Scalar:
    """The number as DuckDB compares it with a column: a FLOAT column compares as FLOAT."""
    if pa.types.is_floating(column_type):
        return pa.scalar(number, type=column_type)
    return pa.scalar(number)
