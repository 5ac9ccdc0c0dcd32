"""MySQL conditions evaluated on Arrow rows as DuckDB evaluates their compiled SQL.

:mod:`labdata.catalog.expr.lookup` filters the rows it found by key with the string
restrictions users write most: comparisons of an integer or float attribute with a
number (``isi_contamination < 0.1 AND presence_ratio > 0.6``), of a text or enum
attribute with a string (``subject_name = "X"``, ``trialset_description != "visual"``),
``IN (...)`` lists of either, ``LIKE`` on text (``dataset_name LIKE "%ephys%"``),
``AND``, ``OR``, ``NOT`` and ``IS NULL``, with SQL's three-valued logic.

The rows are those DuckDB returns for the SQL :mod:`labdata.catalog.expr.mysql` makes:

* a FLOAT attribute compares as FLOAT with a decimal literal;
* a text attribute compared with a number compares with the number's text;
* text equality is exact (DuckDB's binary collation);
* ``LIKE`` ignores case (it is compiled to ``ILIKE``), ``%`` matches any run of
  characters and ``_`` one; DuckDB has no escape character, so a pattern with a
  backslash (which Arrow would read as one) or an ``ESCAPE`` clause is left to
  DuckDB, and so are rows holding non-ASCII text, where lower-casing and "one
  character" are DuckDB's business.

Anything else raises :class:`NotSupported` and the query goes to DuckDB.
:func:`key_values` reads the equalities a condition implies (``subject_name = "X"``),
so that the evaluator can find the rows by key instead of scanning.
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

__all__ = ["NotSupported", "column_names", "condition", "key_values"]

_NUMERIC_KINDS = frozenset({"integer", "float"})
_TEXT_KINDS = frozenset({"string", "enum"})
_COMPARE: dict[type[exp.Expr], Any] = {exp.EQ: pc.equal, exp.NEQ: pc.not_equal, exp.GT: pc.greater,
                                       exp.GTE: pc.greater_equal, exp.LT: pc.less, exp.LTE: pc.less_equal}
_MIRRORED = {pc.greater: pc.less, pc.less: pc.greater, pc.greater_equal: pc.less_equal,
             pc.less_equal: pc.greater_equal}

Mask = Callable[[pa.Table], Any]


class NotSupported(Exception):  # noqa: N818 - a signal, not an error the user sees
    """The condition uses something this module does not evaluate."""


def condition(text: str, heading: Heading) -> Mask:
    """A MySQL condition as a function of the rows returning a boolean mask (NULL: unknown).

    The function itself raises :class:`NotSupported` for rows it cannot judge as DuckDB would.
    """
    return _compile(parse_text(text), heading)


def column_names(text: str) -> set[str]:
    """The attributes a MySQL condition reads."""
    return {node.name for node in parse_text(text).find_all(exp.Column)}


def key_values(text: str, heading: Heading, kinds: frozenset[str]) -> dict[str, set[Any]]:
    """The values the attributes of ``kinds`` must take for ``text`` to hold (its top-level ``AND`` of
    ``a = literal`` and ``a IN (literals)``); attributes not so constrained are left out."""
    found: dict[str, set[Any]] = {}
    for part in _conjuncts(parse_text(text)):
        try:
            name, values = _equality(part, heading, kinds)
        except NotSupported:
            continue
        found[name] = found[name] & values if name in found else values
    return found


def _conjuncts(node: exp.Expr) -> list[exp.Expr]:
    if isinstance(node, exp.Paren):
        return _conjuncts(node.this)
    if isinstance(node, exp.And):
        return [*_conjuncts(node.this), *_conjuncts(node.expression)]
    return [node]


def _equality(node: exp.Expr, heading: Heading, kinds: frozenset[str]) -> tuple[str, set[Any]]:
    if isinstance(node, exp.EQ):
        column, literals = (node.this, [node.expression]) if isinstance(node.this, exp.Column) \
            else (node.expression, [node.this])
    elif isinstance(node, exp.In) and not node.args.get("query"):
        _in_list(node, heading)
        column, literals = node.this, node.expressions
    else:
        raise NotSupported
    name, kind = _column(column, heading, _NUMERIC_KINDS | _TEXT_KINDS)
    if kind not in kinds or kind == "float":
        raise NotSupported
    values = {_literal(literal, kind) for literal in literals}
    if kind == "integer" and not all(isinstance(v, int) for v in values):
        raise NotSupported  # 1.5 matches no integer; leave the narrowing to the filter
    return name, values


def _compile(node: exp.Expr, heading: Heading) -> Mask:
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
        name, _ = _column(node.this, heading, _NUMERIC_KINDS | _TEXT_KINDS)
        return lambda rows: pc.is_null(rows.column(name))
    if isinstance(node, exp.In) and not node.args.get("query") and node.expressions:
        _in_list(node, heading)
        tests = [_comparison(pc.equal, node.this, value, heading) for value in node.expressions]
        return lambda rows: _any(test(rows) for test in tests)
    if isinstance(node, exp.Like):
        return _like(node, heading)
    compare = _COMPARE.get(type(node))
    if compare is None:
        raise NotSupported
    if isinstance(node.this, exp.Column):
        return _comparison(compare, node.this, node.expression, heading)
    return _comparison(_MIRRORED.get(compare, compare), node.expression, node.this, heading)


def _in_list(node: exp.In, heading: Heading) -> None:
    """Check an IN list DuckDB compares as ``=`` does: integers with numbers, text with strings
    (the compiler makes ``text = 6`` a text comparison, not ``text IN (6)``; FLOAT lists may widen)."""
    _, kind = _column(node.this, heading, _NUMERIC_KINDS | _TEXT_KINDS)
    strings = [isinstance(v, exp.Literal) and v.is_string for v in node.expressions]
    if kind == "float" or (kind in _TEXT_KINDS) != all(strings) or (any(strings) and not all(strings)):
        raise NotSupported


def _any(masks: Any) -> Any:
    result = None
    for mask in masks:
        result = mask if result is None else pc.or_kleene(result, mask)
    return result


def _comparison(compare: Callable[..., Any], column: exp.Expr, literal: exp.Expr, heading: Heading) -> Mask:
    name, kind = _column(column, heading, _NUMERIC_KINDS | _TEXT_KINDS)
    value = _literal(literal, kind)
    if kind == "enum" and compare not in (pc.equal, pc.not_equal):
        raise NotSupported  # DuckDB may order an ENUM by its declaration
    if kind in _TEXT_KINDS:
        return lambda rows: compare(_text(rows.column(name)), pa.scalar(value, pa.string()))
    return lambda rows: compare(rows.column(name), _scalar(value, rows.column(name).type))


def _like(node: exp.Like, heading: Heading) -> Mask:
    name, _ = _column(node.this, heading, _TEXT_KINDS)
    pattern = node.expression
    if not isinstance(pattern, exp.Literal) or not pattern.is_string or "\\" in pattern.this \
            or not pattern.this.isascii():
        raise NotSupported
    lowered = pattern.this.lower()

    def mask(rows: pa.Table) -> Any:
        values = _text(rows.column(name))
        if pc.all(pc.string_is_ascii(values)).as_py() is False:
            raise NotSupported
        return pc.match_like(pc.ascii_lower(values), lowered)

    if node.args.get("negate"):  # NOT LIKE
        return lambda rows: pc.invert(mask(rows))
    return mask


def _text(column: Any) -> Any:
    """A text or ENUM column as plain strings."""
    return column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column


def _column(node: exp.Expr, heading: Heading, kinds: frozenset[str]) -> tuple[str, str]:
    if not isinstance(node, exp.Column) or node.table or node.name not in heading \
            or heading[node.name].kind not in kinds:
        raise NotSupported
    return node.name, heading[node.name].kind


def _literal(node: exp.Expr, kind: str) -> Any:
    """A literal as DuckDB compares it with an attribute of ``kind``."""
    if kind in _TEXT_KINDS:
        if not isinstance(node, exp.Literal):
            raise NotSupported
        return node.this  # a number compares as its text (see mysql._fix_comparisons)
    return _number(node)


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
