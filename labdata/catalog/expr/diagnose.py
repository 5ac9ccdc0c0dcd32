"""DuckDB's errors on a compiled query, told in the user's terms.

A query that passed the checks made when it was built can still fail in DuckDB:
a function DuckDB does not know (``proj(x='frobnicate(weight)')``), an aggregate
of the wrong type (``sum(subject_name)``), a value that does not convert. The one
boundary that runs compiled queries passes DuckDB's exception to
:func:`query_error`, which names the expression the user wrote and what to do.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from labdata.catalog.expr.nodes import user_texts
from labdata.core.errors import QueryError

if TYPE_CHECKING:
    from labdata.catalog.expr.nodes import Node

__all__ = ["query_error"]

_UNKNOWN_FUNCTION = re.compile(r"(?:Scalar|Aggregate|Table) Function with name (\w+) does not exist")
_NO_MATCH = re.compile(r"No function matches the given name and argument types '(\w+)\(([^)]*)\)'")
_CANDIDATES = re.compile(r"Did you mean \"?([\w.]+)")
_CONVERSION = re.compile(r"(?:Could not convert|invalid \w+ field format:?|Conversion Error:?)\s*(?:string )?"
                         r"['\"]?([^'\"]*)['\"]?")
_KINDS = {"VARCHAR": "text", "DATE": "a date", "TIMESTAMP": "a datetime", "BOOLEAN": "a boolean",
          "BLOB": "a blob", "INTEGER": "an integer", "BIGINT": "an integer", "DOUBLE": "a number",
          "FLOAT": "a number"}


def query_error(error: Exception, node: Node) -> QueryError:
    """A :class:`QueryError` for DuckDB's ``error`` on the query of ``node``, naming the expression at fault."""
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    texts = user_texts(node)
    for diagnose in (_unknown_function, _wrong_arguments, _conversion):
        found = diagnose(message, texts)
        if found is not None:
            return found
    where = f" Expressions in the query: {'; '.join(map(repr, texts))}." if texts else ""
    return QueryError(f"The query could not run: {message}.{where}",
                      hint="Check the restriction strings and computed attributes against the heading "
                      "(query.heading), and write them in MySQL syntax.")


def _culprit(texts: list[str], word: str) -> str:
    """The user's expression that mentions ``word`` (case-insensitive), quoted; else ''."""
    for text in texts:
        if word and word.lower() in text.lower():
            return f" in {text!r}"
    return ""


def _unknown_function(message: str, texts: list[str]) -> QueryError | None:
    match = _UNKNOWN_FUNCTION.search(message)
    if match is None:
        return None
    name = match.group(1)
    close = _CANDIDATES.search(message)
    maybe = f" Did you mean {close.group(1)!r}?" if close else ""
    return QueryError(f"Unknown function {name!r}{_culprit(texts, name + '(')}.{maybe}",
                      hint="Use SQL functions MySQL and DuckDB share (count, sum, avg, min, max, abs, round, "
                      "concat, lower, upper, ...).")


def _wrong_arguments(message: str, texts: list[str]) -> QueryError | None:
    match = _NO_MATCH.search(message)
    if match is None:
        return None
    name, types = match.group(1), [t.strip() for t in match.group(2).split(",") if t.strip()]
    kinds = " and ".join(_KINDS.get(t, t.lower()) for t in types) or "no argument"
    return QueryError(f"{name}() cannot take {kinds}{_culprit(texts, name + '(')}.",
                      hint=f"Give {name}() attributes of a type it takes: sum and avg add numbers; "
                      "count, min and max take any attribute.")


def _conversion(message: str, texts: list[str]) -> QueryError | None:
    if "onversion" not in message and "convert" not in message:
        return None
    match = _CONVERSION.search(message)
    value = match.group(1).strip() if match else ""
    return QueryError(f"A value in the query cannot be converted{_culprit(texts, value)}: {message}.",
                      hint='Compare attributes with values of their type: numbers unquoted, dates as "YYYY-MM-DD".')
