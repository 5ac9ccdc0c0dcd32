"""Fetching rows in the shapes DataJoint users expect, blobs decoded to numpy arrays."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from labdata.catalog.expr.keys import KeyList
from labdata.catalog.expr.nodes import Limit
from labdata.catalog.expr.sql import order_by as order_by_sql
from labdata.catalog.ops.blobs import ArrayReader, decode_blob
from labdata.core.errors import QueryError

if TYPE_CHECKING:
    import pandas as pd

    from labdata.catalog.declare.heading import Heading
    from labdata.catalog.tables.query import Query

__all__ = ["column_values", "decode_frame", "fetch_one", "fetch_rows"]

_NUMERIC = ("integer", "float", "bool")

def _decoder(heading: Heading, name: str, reader: ArrayReader) -> Callable[[list[Any]], list[Any]] | None:
    """How to decode a fetched column's values: blobs, longblobs and uuids need it, other columns do not.
    Longblobs are decoded together, so that the arrays of many rows are read in few requests."""
    kind = heading[name].kind if name in heading else ""
    if kind == "longblob":
        return reader.read_all
    one = decode_blob if kind == "blob" else _uuid if kind == "uuid" else None
    return None if one is None else (lambda values: [one(v) for v in values])


def _uuid(text: Any) -> uuid.UUID | None:
    return uuid.UUID(text) if isinstance(text, str) else None  # NULL: None (NaN in a frame)


def decode_frame(frame: pd.DataFrame, heading: Heading, reader: ArrayReader) -> pd.DataFrame:
    """Decode the blob columns of a fetched DataFrame in place and return it."""
    for name in frame.columns:
        decode = _decoder(heading, name, reader)
        if decode is not None:
            frame[name] = _object_column(decode(list(frame[name])))
    return frame

def _object_column(values: list[Any]) -> np.ndarray:
    column = np.empty(len(values), dtype=object)
    column[:] = values
    return column

def _ordered_arrow(query: Query, columns: tuple[str, ...], order_by: Any, limit: int | None,
                   offset: int | None) -> pa.Table:
    order = [order_by] if isinstance(order_by, str) else list(order_by or [])
    columns = columns or query.heading.names
    catalog = query.read_catalog()
    if order == [] or (order == ["KEY"] and not any(query.heading[k].kind == "enum" for k in query.primary_key)):
        rows = query.rows_in_process(catalog, (*columns, *query.primary_key) if order else columns)
        if rows is not None and (not order or _sortable(rows, query.primary_key)):
            return _page(rows, columns, query.primary_key if order else (), limit, offset)
    suffix = " ORDER BY " + order_by_sql(query.heading, order) if order else ""
    if limit is not None:
        suffix += f" LIMIT {int(limit)}"
    if offset:
        suffix += f" OFFSET {int(offset)}"
    wrap = (lambda sql: sql + suffix) if suffix else None
    return query.execute(columns, wrap, catalog=catalog).to_arrow_table()


def _widened(table: pa.Table) -> pa.Table:
    """``table`` with 4-byte float columns as float64 through their shortest text, so that a
    stored 0.1 comes back as 0.1 (as from MySQL's FLOAT), not 0.10000000149011612."""
    for index, field in enumerate(table.schema):
        if pa.types.is_float32(field.type):
            widened = table.column(index).cast(pa.string()).cast(pa.float64())
            table = table.set_column(index, pa.field(field.name, pa.float64()), widened)
    return table


def _sortable(rows: pa.Table, key: tuple[str, ...]) -> bool:
    """Whether Arrow sorts ``key`` as DuckDB does (not ENUMs: DuckDB sorts them by declaration)."""
    return rows.num_rows < 2 or not any(pa.types.is_dictionary(rows.schema.field(k).type) for k in key)


def _page(rows: pa.Table, columns: tuple[str, ...], key: tuple[str, ...], limit: int | None,
          offset: int | None) -> pa.Table:
    """``columns`` of ``rows`` sorted by ``key`` (if any), then ``offset`` and ``limit`` applied."""
    if key and rows.num_rows > 1:
        rows = rows.sort_by([(name, "ascending") for name in key])
    if offset or limit is not None:
        rows = rows.slice(offset or 0, limit)
    return rows.select(list(columns))


def column_values(table: pa.Table, name: str, heading: Heading, reader: ArrayReader) -> np.ndarray:
    """Return one fetched column as a numpy array: native dtype for complete numeric columns,
    else objects (None for NULL, ``datetime`` for dates, arrays for blobs)."""
    column = table.column(name)
    kind = heading[name].kind if name in heading else ""
    if kind == "float" and _is_numeric(column.type):  # DataJoint: float64, NULL as NaN
        return column.cast(pa.float64()).fill_null(float("nan")).to_numpy(zero_copy_only=False)
    if (kind in _NUMERIC or kind == "computed") and column.null_count == 0 and _is_numeric(column.type):
        values = column.to_numpy()
        return values.astype(np.int64) if kind == "integer" and values.dtype.kind == "i" else values
    if _is_text(column.type) and kind != "uuid":
        return _text_values(column)
    values = column.to_pylist()
    decode = _decoder(heading, name, reader)
    return _object_column(decode(values) if decode is not None else values)

def _text_values(column: Any) -> np.ndarray:
    """A text column as str objects (None for NULL); each distinct string is made once."""
    if len(column) < 4096:
        return column.to_numpy(zero_copy_only=False)
    encoded = column.combine_chunks().dictionary_encode()
    words = _object_column([*encoded.dictionary.to_pylist(), None])  # NULL is the last word
    return words[encoded.indices.fill_null(len(words) - 1).to_numpy()]

def _is_text(arrow_type: Any) -> bool:
    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)

def _is_numeric(arrow_type: Any) -> bool:
    return pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_boolean(arrow_type)

def fetch_rows(query: Query, attributes: tuple[str, ...], *, as_dict: bool, format: str | None,
               order_by: Any, limit: int | None, offset: int | None) -> Any:
    """Implement :meth:`Query.fetch`."""
    if format not in (None, "array", "frame"):
        raise QueryError(f"Unknown fetch format {format!r}.", hint="Use format='array' or format='frame'.")
    heading, keys = query.heading, query.primary_key
    names = tuple(a for a in attributes if a != "KEY")
    heading.require(names, "The query")
    wanted = tuple(dict.fromkeys((*keys, *names) if "KEY" in attributes else names))
    if isinstance(query.node, Limit) and order_by == "KEY":  # q & Top(...) comes in the Top's order
        order_by = list(query.node.order_by)
    table = _widened(_ordered_arrow(query, wanted, order_by, limit, offset))
    reader = ArrayReader.of(query.context)
    if format == "frame" and not attributes:
        frame = decode_frame(table.to_pandas(), heading, reader)
        return frame.set_index(list(keys)) if keys else frame
    if as_dict:  # with attributes too: dicts of just those (and the key, for 'KEY'), as DataJoint 0.14
        return _dicts(table, heading, reader)
    if attributes == ("KEY",):
        return KeyList(table.select(list(keys)))
    columns = {name: column_values(table, name, heading, reader) for name in table.column_names}
    if attributes:
        arrays = [_keys(columns, keys, table.num_rows) if a == "KEY" else columns[a] for a in attributes]
        return arrays[0] if len(arrays) == 1 else tuple(arrays)
    return _records(columns) if columns else np.rec.array([])

def _records(columns: dict[str, np.ndarray]) -> np.recarray:
    """A record array of ``columns`` (np.zeros, not np.empty: filling object fields with None is slow)."""
    first = next(iter(columns.values()))
    records = np.zeros(len(first), dtype=[(name, values.dtype) for name, values in columns.items()])
    for name, values in columns.items():
        records[name] = values
    return records.view(np.recarray)


def _dicts(table: pa.Table, heading: Heading, reader: ArrayReader) -> list[dict[str, Any]]:
    """Rows as dicts, built by Arrow; only blob columns are decoded in Python."""
    rows = table.to_pylist()
    for name in table.column_names:
        decode = _decoder(heading, name, reader)
        if decode is not None:
            for row, value in zip(rows, decode([row[name] for row in rows]), strict=True):
                row[name] = value
    return rows


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value

def _keys(columns: dict[str, np.ndarray], keys: tuple[str, ...], count: int) -> list[dict[str, Any]]:
    return [{k: _plain(columns[k][i]) for k in keys} for i in range(count)]

def fetch_one(query: Query, attributes: tuple[str, ...]) -> Any:
    """Implement :meth:`Query.fetch1`."""
    rows = fetch_rows(query, (), as_dict=True, format=None, order_by=None, limit=2, offset=None)

    if len(rows) != 1:
        count = len(query) if rows else 0
        raise QueryError(
            f"fetch1 needs exactly one row but the query has {count}.",
            hint="Restrict the query to a single primary key, or use fetch().",
        )
    row = rows[0]
    if not attributes:
        return row
    query.heading.require([a for a in attributes if a != "KEY"], "The query")
    values = tuple({k: row[k] for k in query.primary_key} if a == "KEY" else row[a] for a in attributes)
    return values[0] if len(values) == 1 else values
