"""Arrow types of declared attributes, for staging rows in DuckDB without copies."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    from labdata.catalog.declare.definition import TableSchema

__all__ = ["arrow_table", "arrow_type"]

_SIMPLE = {
    "VARCHAR": pa.string(), "BOOLEAN": pa.bool_(), "TINYINT": pa.int8(), "SMALLINT": pa.int16(),
    "INTEGER": pa.int32(), "BIGINT": pa.int64(), "UTINYINT": pa.uint8(), "USMALLINT": pa.uint16(),
    "UINTEGER": pa.uint32(), "UBIGINT": pa.uint64(), "FLOAT": pa.float32(), "DOUBLE": pa.float64(),
    "DATE": pa.date32(), "TIMESTAMP": pa.timestamp("us"), "TIME": pa.time64("us"), "BLOB": pa.binary(),
    "UUID": pa.string(),  # DuckDB casts the text into its UUID column
}


def arrow_type(sql_type: str) -> pa.DataType:
    """Return the Arrow type matching a DuckDB column type of a declaration."""
    if sql_type in _SIMPLE:
        return _SIMPLE[sql_type]
    decimal = re.fullmatch(r"DECIMAL\((\d+),(\d+)\)", sql_type)
    if decimal:
        return pa.decimal128(int(decimal[1]), int(decimal[2]))
    raise ValueError(f"No Arrow type for {sql_type!r}")


def arrow_table(rows: list[dict[str, Any]], schema: TableSchema, names: list[str] | None = None) -> pa.Table:
    """Build an Arrow table of prepared rows with the declaration's column types.

    Parameters
    ----------
    rows : list of dict
        Prepared rows (values already coerced and blobs serialised).
    schema : TableSchema
        The declaration.
    names : list of str, optional
        Only these attributes (default: all).
    """
    attributes = [schema[n] for n in names] if names else list(schema.attributes)
    fields = [pa.field(a.name, arrow_type(a.sql_type)) for a in attributes]
    columns = [pa.array([row[a.name] for row in rows], type=f.type) for a, f in zip(attributes, fields, strict=True)]
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))
