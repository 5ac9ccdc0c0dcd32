"""Normalising and checking rows before they are written.

Rows arrive as dicts, sequences of dicts or tuples, numpy records, pandas
DataFrames or Arrow tables. Each becomes a dict of coerced values that fits
the declaration, or an error from :mod:`labdata.core.errors` that names the
attribute and says what to do.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import math
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from labdata.catalog.declare.definition import NO_DEFAULT, TableSchema
from labdata.core.errors import (
    DataError,
    DuplicateError,
    MissingAttributeError,
    UnknownAttributeError,
    WrongTypeError,
    did_you_mean,
)

__all__ = ["AUTO", "check_batch_keys", "coerce_value", "normalize_rows", "prepare_row"]


class _Auto:
    def __repr__(self) -> str:
        return "AUTO"


AUTO: Any = _Auto()


def normalize_rows(rows: Any, schema: TableSchema) -> list[dict[str, Any]]:
    """Return the rows as a list of dicts, whatever container they came in (a CSV file's path too)."""
    if isinstance(rows, PurePath) or (isinstance(rows, str) and rows.lower().endswith(".csv")):
        return _csv_rows(Path(rows), schema)
    if isinstance(rows, Mapping):
        return [dict(rows)]
    if hasattr(rows, "to_pylist"):  # pyarrow Table
        return rows.to_pylist()
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):  # pandas DataFrame
        frame = rows.reset_index() if _has_named_index(rows) else rows
        return frame.to_dict("records")
    if isinstance(rows, np.ndarray) and rows.dtype.names:
        return [_record(r) for r in rows]
    if isinstance(rows, str | bytes):
        raise DataError(f"Cannot insert a {type(rows).__name__}: {rows!r:.60}.",
                        hint="Insert a dict, a list of dicts, a DataFrame or an Arrow table.")
    try:
        items = list(rows)
    except TypeError:
        raise DataError(f"Cannot insert a {type(rows).__name__}.",
                        hint="Insert a dict, a list of dicts, a DataFrame or an Arrow table.") from None
    return [_as_dict(item, schema) for item in items]


def _closest_hint(name: str, schema: TableSchema) -> str:
    close = difflib.get_close_matches(name, list(schema.names), n=1)
    rename = f"Rename {name!r} to {close[0]!r}" if close else f"Use one of {', '.join(schema.names)}"
    return f"{rename}, or pass ignore_extra_fields=True to drop attributes the table does not have."


def _csv_rows(path: Path, schema: TableSchema) -> list[dict[str, Any]]:
    """The rows of a CSV file with a header line, as DataJoint's ``insert(Path('rows.csv'))``;
    an empty cell of a non-text attribute is NULL (or its default)."""
    try:
        with path.open(newline="", encoding="utf-8") as file:
            rows = list(csv.DictReader(file))
    except OSError as error:
        raise DataError(f"Cannot read the CSV file {str(path)!r}: {error.strerror or error}.",
                        hint="Give the path of a readable CSV file with a header line of attribute names.") from None
    texts = {a.name for a in schema.attributes if a.type.kind in ("string", "enum")}
    return [{name: value for name, value in row.items() if value != "" or name in texts} for row in rows]


def _has_named_index(frame: Any) -> bool:
    return any(name is not None for name in frame.index.names)


def _record(record: np.void) -> dict[str, Any]:
    return dict(zip(record.dtype.names or (), record.tolist(), strict=True))


def _as_dict(item: Any, schema: TableSchema) -> dict[str, Any]:
    if isinstance(item, Mapping):
        return dict(item)
    if isinstance(item, np.void):
        return _record(item)
    if isinstance(item, list | tuple):
        if len(item) != len(schema.names):
            raise DataError(
                f"A row of {len(item)} values was given to {schema.class_name}, which has "
                f"{len(schema.names)} attributes ({', '.join(schema.names)}).",
                hint="Give one value per attribute in declaration order, or insert dicts.",
            )
        return dict(zip(schema.names, item, strict=True))
    raise DataError(f"Cannot insert a row of type {type(item).__name__} into {schema.class_name}.",
                    hint="Each row must be a dict, a tuple of all attributes, or a numpy record.")


def prepare_row(row: dict[str, Any], schema: TableSchema, *, ignore_extra_fields: bool) -> dict[str, Any]:
    """Check one row against the declaration and return its coerced values, defaults filled.

    Raises
    ------
    UnknownAttributeError, MissingAttributeError, WrongTypeError, ValueTooLongError
    """
    if not ignore_extra_fields:
        for name in row:
            if name not in schema:
                raise UnknownAttributeError(
                    f"Attribute {name!r} not found: it is not in the heading of {schema.class_name}."
                    f"{did_you_mean(str(name), schema.names)}",
                    hint=_closest_hint(str(name), schema),
                )
    return {a.name: coerce_value(a, row.get(a.name, NO_DEFAULT), schema) for a in schema.attributes}


def _is_missing(value: Any, kind: str) -> bool:
    if value is None or value is NO_DEFAULT:
        return True
    if isinstance(value, float) and math.isnan(value) and kind != "float":
        return True
    return type(value).__name__ in ("NaTType", "NAType")


def coerce_value(attribute: Any, value: Any, schema: TableSchema) -> Any:
    """Return the stored value of one attribute: coerced, defaulted, or an error."""
    kind = attribute.type.kind
    if isinstance(value, float) and math.isnan(value) and kind == "float" and attribute.nullable:
        return None  # as in DataJoint on MySQL: NaN in a nullable float is NULL
    if not _is_missing(value, kind):
        return attribute.type.coerce(value, attribute.name)
    if attribute.type.autoincrement and value is NO_DEFAULT:
        return AUTO
    if attribute.default is not NO_DEFAULT:
        if attribute.default == "CURRENT_TIMESTAMP":
            return dt.datetime.now().replace(microsecond=0)
        return attribute.default
    if attribute.nullable:
        return None
    if value is NO_DEFAULT:
        raise MissingAttributeError(
            f"{schema.class_name} needs a value for {attribute.name!r} ({attribute.type.text}).",
            hint=f"Add {attribute.name!r} to the row; it has no default.",
        )
    raise WrongTypeError(f"{schema.class_name}.{attribute.name} cannot be NULL.",
                         hint=f"Give {attribute.name!r} a value of type {attribute.type.text}.")


def check_batch_keys(rows: list[dict[str, Any]], schema: TableSchema, *, skip_duplicates: bool,
                     replace: bool) -> list[dict[str, Any]]:
    """Reject (or drop, with ``skip_duplicates``) rows repeating a primary key within the batch."""
    seen: dict[tuple[Any, ...], int] = {}
    kept = []
    for row in rows:
        key = tuple(row[k] for k in schema.primary_key)
        if AUTO in key:
            kept.append(row)
            continue
        if key in seen:
            if skip_duplicates:
                continue
            if not replace:
                shown = dict(zip(schema.primary_key, key, strict=True))
                raise DuplicateError(f"The rows given to {schema.class_name} repeat the key {shown}.")
            kept[seen[key]] = row
            continue
        seen[key] = len(kept)
        kept.append(row)
    return kept
