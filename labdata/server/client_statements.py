"""Statements of labdata's own Python clients in remote mode (:mod:`labdata.catalog.engine.remote`).

A client compiles each query exactly as a local lake would (DuckDB's dialect, tables named
``lake.<schema>.<table>``) and sends it marked ``ARROW_MARKER``; its inserts and deletes come marked
``CLIENT_MARKER``, in DuckDB's dialect too, with blob values already encoded. The facade names each table by
its MySQL database and then checks the statement like any other (:func:`~labdata.server.statements.plan`:
grants, forbidden functions); a query's result goes back as Arrow IPC streams, one per row of a single binary
column, so every type (decimals, timestamps, blobs, NULL-only columns) reaches the client as DuckDB made it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pyarrow as pa
import sqlglot
from mysql_mimic import ResultColumn
from mysql_mimic.charset import CharacterSet
from mysql_mimic.types import ColumnType
from sqlglot import exp

from labdata.catalog.engine.lake import Lake
from labdata.catalog.engine.remote import ARROW_MARKER, CLIENT_MARKER
from labdata.server.grants import database_of
from labdata.server.statements import FacadeStatementError

__all__ = ["ARROW_COLUMN", "ARROW_MARKER", "CLIENT_MARKER", "arrow_batches", "as_mysql_names", "ipc_rows"]

ARROW_COLUMN = "labdata_arrow_ipc"


def as_mysql_names(sql: str, lab_name: str, *, writes: bool) -> exp.Expr:
    """Parse a client's DuckDB statement and name its tables ``database.table`` as a MySQL client would.

    Raises
    ------
    FacadeStatementError
        1064 when the text is not one DuckDB statement, 1235 when it is not a SELECT (or, with ``writes``,
        an INSERT or DELETE) or names a table outside the client's lake.
    """
    try:
        statements = sqlglot.parse(sql, read="duckdb")
    except sqlglot.errors.ParseError as error:
        raise FacadeStatementError(f"The query could not be parsed: {str(error).splitlines()[0]}", 1064) from error
    if len(statements) != 1 or statements[0] is None:
        raise FacadeStatementError("A labdata client sends one statement at a time", 1064)
    expression = statements[0]
    allowed = (exp.Insert, exp.Delete) if writes else (exp.Select, exp.SetOperation, exp.Subquery)
    if not isinstance(expression, allowed):
        raise FacadeStatementError("A labdata client sends queries, inserts and deletes only", 1235)
    ctes = {cte.alias_or_name.lower() for cte in expression.find_all(exp.CTE)}
    for table in expression.find_all(exp.Table):
        if not table.db and table.name.lower() in ctes:
            continue
        if table.catalog.lower() != Lake.alias or not table.db:
            raise FacadeStatementError(f"Only tables of the lake can be read here, not {table.sql()}", 1235)
        table.set("catalog", None)
        table.set("db", exp.to_identifier(database_of(table.db, lab_name)))
    return expression


def ipc_rows(batches: Iterator[pa.RecordBatch], schema: pa.Schema) -> Iterator[tuple[bytes]]:
    """One IPC stream per record batch; an empty result still sends its schema."""
    sent = False
    for batch in batches:
        if batch.num_rows == 0 and sent:
            continue
        yield (_ipc(pa.Table.from_batches([batch], schema=schema)),)
        sent = True
    if not sent:
        yield (_ipc(schema.empty_table()),)


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def arrow_batches(reader: pa.RecordBatchReader) -> tuple[AsyncIterator[tuple[bytes]], list[ResultColumn]]:
    """The rows of ``reader`` as IPC bytes, each batch read off the event loop, and their one column."""
    column = ResultColumn(name=ARROW_COLUMN, type=ColumnType.LONG_BLOB, character_set=CharacterSet.binary)
    encoded = ipc_rows(iter(reader), reader.schema)

    async def rows() -> AsyncIterator[tuple[bytes]]:
        while True:
            chunk = await asyncio.to_thread(next, encoded, None)
            if chunk is None:
                return
            yield chunk

    return rows(), [column]

