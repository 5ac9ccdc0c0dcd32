"""Unit classification criteria: pandas expressions over the UnitMetrics columns (reference §1.11).

A criteria string is a :meth:`pandas.DataFrame.eval` expression over UnitMetrics column
names, with comparisons combined by ``&``, ``|``, ``~``, parentheses and ``abs()``, as the
seed pages write them. The SQL spellings ``AND``, ``OR``, ``NOT`` (any case), ``=`` and
``<>`` are accepted too, as the lab-wide criteria of the benchmarks are written in MySQL
syntax: they are rewritten token by token (never inside quoted strings) to pandas' ``and``,
``or``, ``not``, ``==`` and ``!=``, which keep SQL's precedence.

NULL metrics are NaN, so every comparison with them is False, except ``!=``. Object
columns whose values are all numbers (or NULL) are compared as numbers.

Examples
--------
>>> import pandas as pd
>>> metrics = pd.DataFrame({"isi_contamination": [0.01, 0.3, None], "snr": [6.0, 9.0, 7.0]})
>>> evaluate_criteria(metrics, "isi_contamination < 0.1 AND snr > 5").tolist()
[True, False, False]
>>> classify_units(metrics, "isi_contamination < 0.1", "snr > 6.5").tolist()
[-1, 0, 0]
"""

from __future__ import annotations

import io
import numbers
import tokenize

import numpy as np
import pandas as pd

from labdata.core.errors import QueryError, did_you_mean

__all__ = ["MANUAL_PREFIX", "classify_units", "evaluate_criteria", "is_manual", "pandas_expression"]

MANUAL_PREFIX = "manual_"
_WORDS = {"AND": "and", "OR": "or", "NOT": "not"}
_HINT = ("Write the criteria as comparisons of UnitMetrics columns combined with & | ~ (or AND OR NOT) "
         "and parentheses, e.g. 'isi_contamination < 0.1 & presence_ratio > 0.9'.")


def is_manual(criteria: str | None) -> bool:
    """Whether a ``sua_criteria`` names a hand-curated set (``manual_<annotator>_<descriptor>``)."""
    return bool(criteria) and str(criteria).startswith(MANUAL_PREFIX)


def pandas_expression(criteria: str) -> str:
    """The criteria with SQL's ``AND``/``OR``/``NOT``/``=``/``<>`` rewritten for :meth:`pandas.DataFrame.eval`.

    Raises
    ------
    QueryError
        When the text cannot be split into tokens (an unclosed quote or parenthesis).

    Examples
    --------
    >>> pandas_expression("a < 1 AND NOT b = 'AND' OR c <> 2")
    "a < 1 and not b == 'AND' or c != 2"
    """
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(criteria.strip()).readline))
    except (tokenize.TokenError, SyntaxError) as error:
        raise QueryError(f"Cannot read the criteria {criteria!r}: {error}.", hint=_HINT) from error
    pieces: list[str] = []
    previous: tokenize.TokenInfo | None = None
    for token in tokens:
        text = token.string
        if token.type == tokenize.NAME and text.upper() in _WORDS:
            text = _WORDS[text.upper()]
        elif token.type == tokenize.OP and text == "=":
            text = "=="
        elif token.type == tokenize.OP and text == ">" and previous is not None and previous.string == "<" \
                and previous.end == token.start:
            pieces[-1], text = "!=", ""
        if text:
            pieces.append(text)
        previous = token
    return " ".join(piece for piece in pieces if piece.strip())


def _numeric_frame(metrics: pd.DataFrame) -> pd.DataFrame:
    """``metrics`` with object columns whose values are all numbers (or NULL) converted to floats."""
    frame = metrics.copy()
    for name in frame.columns:
        column = frame[name]
        if column.dtype == object and all(_is_number(v) for v in column.dropna()):
            frame[name] = pd.to_numeric(column, errors="coerce").astype(np.float64)
    return frame


def _is_number(value: object) -> bool:
    """A real number (int, float, Decimal, numpy scalar), not a bool or an array."""
    return isinstance(value, numbers.Number) and not isinstance(value, bool | complex)


def evaluate_criteria(metrics: pd.DataFrame, criteria: str) -> np.ndarray:
    """Evaluate ``criteria`` on each row of ``metrics``; True where a unit passes.

    Parameters
    ----------
    metrics : pandas.DataFrame
        One row per unit, one column per UnitMetrics attribute.
    criteria : str
        The expression (pandas or SQL spelling).

    Returns
    -------
    ndarray of bool
        One value per row.

    Raises
    ------
    QueryError
        When the expression names a column UnitMetrics lacks (the message lists the columns),
        cannot be parsed, or does not give one True/False per unit.
    """
    expression = pandas_expression(criteria)
    frame = _numeric_frame(metrics)
    try:
        result = frame.eval(expression, engine="python")
    except pd.errors.UndefinedVariableError as error:
        name = str(error).split("'")[1] if "'" in str(error) else str(error)
        raise QueryError(
            f"The criteria {criteria!r} names {name!r}, which is not a UnitMetrics column."
            f"{did_you_mean(name, frame.columns)} Columns: {', '.join(map(str, frame.columns))}.",
            hint="Use the UnitMetrics column names; fix the criteria with UnitCountCriteria.update1.") from error
    except (SyntaxError, TypeError, ValueError, KeyError, AttributeError, NotImplementedError) as error:
        raise QueryError(f"The criteria {criteria!r} cannot be evaluated: {error}.", hint=_HINT) from error
    return _boolean_result(result, criteria, len(frame))


def _boolean_result(result: object, criteria: str, n_rows: int) -> np.ndarray:
    if isinstance(result, pd.Series) and len(result) == n_rows and (
            pd.api.types.is_bool_dtype(result.dtype) or (n_rows == 0)):
        return result.to_numpy(dtype=bool)
    described = f"a {type(result).__name__}" + (f" of {result.dtype}" if isinstance(result, pd.Series) else "")
    raise QueryError(f"The criteria {criteria!r} gives {described}, not True/False for each unit.",
                     hint="Compare the columns: 'snr > 5', not 'snr' nor 'snr + 1'.")


def classify_units(metrics: pd.DataFrame, sua_criteria: str, mua_criteria: str | None = None) -> np.ndarray:
    """UnitCount.Unit's ``passes`` of each row: 1 single unit, 0 multi unit, -1 noise.

    1 where ``sua_criteria`` holds, else 0; with ``mua_criteria``, -1 where it does not hold
    (a unit passing the SUA criteria but failing the MUA one is noise).
    """
    passes = np.where(evaluate_criteria(metrics, sua_criteria), 1, 0).astype(np.int8)
    if mua_criteria:
        passes[~evaluate_criteria(metrics, mua_criteria)] = -1
    return passes
