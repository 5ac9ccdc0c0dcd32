"""MySQL-syntax expressions (restriction strings, computed attributes) made DuckDB SQL.

The seeds' users write conditions for MySQL: double-quoted strings,
``LIKE``, ``!=``, MySQL functions. sqlglot parses them in the MySQL dialect;
this module checks every attribute name against the relation (suggesting the
closest one), qualifies it, and adjusts the comparisons whose meaning differs
between MySQL and DuckDB, so that a condition returns the rows MySQL would:

* a blob attribute compared with a string (``position != "NULL"``) compares
  bytes, true for every non-NULL blob but ``NULL``'s own bytes;
* a text attribute compared with a number (``event_name = 6``) compares as text,
  where DuckDB would try to cast every value of the column to a number;
* ``LIKE`` ignores case, as under MySQL's default collation, and a backslash escapes ``%`` and ``_``
  (``'manual\\_%'``), MySQL's default ``ESCAPE``.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp

from labdata.catalog.expr.sql import column
from labdata.core.errors import LabdataError, QueryError, did_you_mean

if TYPE_CHECKING:
    from labdata.catalog.declare.heading import Heading

__all__ = ["check_condition", "parse_expression", "parse_text"]

_TEXT_KINDS = ("string", "enum")
_TIME_KINDS = ("date", "datetime")
_BLOB_KINDS = ("blob", "longblob")
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ)


def check_condition(text: str, heading: Heading) -> None:
    """Check a restriction string against ``heading`` without building SQL.

    Raises
    ------
    QueryError
        On a syntax error, an unknown attribute (with the closest name), a subquery, a
        bitwise operator, or a date attribute compared with a string that is no date.
    """
    parsed = parse_text(text)
    for node in parsed.find_all(exp.Column):
        if node.name not in heading:
            raise QueryError(f"Unknown attribute {node.name!r} in {text!r}.{did_you_mean(node.name, heading.names)}",
                             hint=f"Attributes: {', '.join(heading.names)}.")
    for comparison in parsed.find_all(*_COMPARISONS):
        _check_time_literal(comparison, heading, text)


def _check_time_literal(comparison: exp.Expr, heading: Heading, text: str) -> None:
    """A date or datetime attribute compared with a string that is no date: say so now, not at run time."""
    for side, other in (("this", "expression"), ("expression", "this")):
        kind = _kind(comparison.args.get(side), heading)
        literal = comparison.args.get(other)
        if kind not in _TIME_KINDS or not isinstance(literal, exp.Literal) or not literal.is_string:
            continue
        try:
            heading[comparison.args[side].name].type.coerce(literal.this, comparison.args[side].name)
        except LabdataError:
            name = comparison.args[side].name
            raise QueryError(f"{name!r} is a {kind} but {text!r} compares it with {literal.this!r}.",
                             hint=f"Write {kind}s as \"YYYY-MM-DD\"{' HH:MM:SS' if kind == 'datetime' else ''}, "
                             f"e.g. '{name} > \"2024-01-31\"'.") from None


def parse_expression(text: str, scopes: dict[str, str], heading: Heading) -> exp.Expr:
    """Parse a MySQL expression over ``heading``'s attributes, qualified by ``scopes`` (name → alias).

    Raises
    ------
    QueryError
        On a syntax error, an unknown attribute, or a subquery.
    """
    parsed = parse_text(text).copy()
    for node in list(parsed.find_all(exp.Column)):
        name = node.name
        if name not in scopes:
            raise QueryError(f"Unknown attribute {name!r} in {text!r}.{did_you_mean(name, scopes)}",
                             hint=f"Attributes: {', '.join(scopes)}.")
        node.replace(column(scopes[name], name))
    _fix_comparisons(parsed, heading)
    return _case_insensitive_like(parsed)


_STATEMENTS = (exp.Query, exp.DDL, exp.DML, exp.Command, exp.Drop, exp.Set, exp.Use, exp.Transaction,
               exp.Commit, exp.Rollback, exp.Pragma, exp.Copy)


@functools.lru_cache(maxsize=1024)
def parse_text(text: str) -> exp.Expr:
    """Parse and vet a MySQL expression once per text (shared: callers must change only a copy).

    Raises
    ------
    QueryError
        On a syntax error, more than one statement, a statement instead of an expression,
        a subquery, or MySQL's bitwise ``&`` / ``|``.
    """
    try:
        parsed = [e for e in sqlglot.parse(text, read="mysql") if e is not None]
    except sqlglot.errors.SqlglotError as error:
        raise QueryError(f"Cannot parse {text!r}: {error}",
                         hint="Write the condition in MySQL syntax, e.g. 'session_name LIKE \"2024%\"'; "
                         "quote strings with matching quotes.") from None
    if len(parsed) != 1 or (isinstance(parsed[0], _STATEMENTS) and not isinstance(parsed[0], exp.Select)):
        raise QueryError(f"Cannot parse {text!r}: a restriction is one condition, not a statement.",
                         hint="Write one condition, e.g. 'session_name LIKE \"2024%\"'; join conditions with AND.")
    expression = parsed[0]
    if expression.find(exp.Select, exp.Union):
        raise QueryError(f"Subqueries are not allowed in {text!r}.",
                         hint="Restrict by another query instead: table & other_query.")
    if expression.find(exp.BitwiseAnd, exp.BitwiseOr):
        raise QueryError(f"{text!r} uses the bitwise operator & or |.",
                         hint="Combine conditions with AND / OR inside a string, or restrict twice: q & 'a' & 'b'.")
    return expression


def _kind(node: exp.Expr | None, heading: Heading) -> str | None:
    if isinstance(node, exp.Column) and node.name in heading:
        return heading[node.name].kind
    return None


def _fix_comparisons(parsed: exp.Expr, heading: Heading) -> None:
    for comparison in list(parsed.find_all(*_COMPARISONS)):
        for side, other in (("this", "expression"), ("expression", "this")):
            kind = _kind(comparison.args.get(side), heading)
            literal = comparison.args.get(other)
            if not isinstance(literal, exp.Literal) or kind is None:
                continue
            if kind in _BLOB_KINDS and literal.is_string:
                comparison.set(other, exp.cast(literal.copy(), exp.DataType.build("BLOB")))
            elif kind in _TEXT_KINDS and not literal.is_string:
                comparison.set(other, exp.Literal.string(literal.this))


def _case_insensitive_like(parsed: exp.Expr) -> exp.Expr:
    def swap(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Like):  # NOT LIKE parses as a LIKE with negate set
            swapped: exp.Expr = exp.ILike(this=node.this, expression=node.expression)
            if _backslash_escapes(node):  # MySQL's default escape character; DuckDB has none
                swapped = exp.Escape(this=swapped, expression=exp.Literal.string("\\"))
            return exp.Not(this=swapped) if node.args.get("negate") else swapped
        return node

    return parsed.transform(swap)


def _backslash_escapes(like: exp.Like) -> bool:
    """Whether a LIKE pattern uses MySQL's default escape (``'manual\\_%'``) and names no ESCAPE of its own."""
    pattern = like.expression
    return (isinstance(pattern, exp.Literal) and pattern.is_string and "\\" in pattern.this
            and not isinstance(like.parent, exp.Escape))
