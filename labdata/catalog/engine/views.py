"""A small DuckDB file of read-only views named after the documented tables, for any DuckDB client.

The file holds no rows: each view (``session``, ``spike_sorting__unit``...) selects from
the DuckLake catalog attached read-only as ``lake``, with every blob column decoded into a
``DOUBLE[]`` where SQL can decode it (:mod:`labdata.catalog.engine.npy_sql`). DuckDB does not
persist attachments, so the file stores its own ``ATTACH`` statement in the table
``labdata_attach``; a client opens the file and runs that statement once::

    duckdb lab.duckdb -cmd "INSTALL ducklake; INSTALL sqlite; ATTACH 'ducklake:sqlite:...' AS lake (...)"

    con = duckdb.connect("lab.duckdb")
    con.execute(con.execute("SELECT statement FROM labdata_attach").fetchone()[0])
    con.sql("SELECT * FROM session")

The views bind when queried, so the file opens without the catalog and fails only on a
query before the ``ATTACH``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from labdata.catalog.declare.registry import LAB_SCHEMA
from labdata.catalog.engine.attach import connect_duckdb, extension_path
from labdata.catalog.engine.npy_sql import MACROS
from labdata.catalog.engine.sqlquery import require_project
from labdata.core.errors import CatalogError, ConfigError

if TYPE_CHECKING:
    from labdata.catalog.engine.context import Context
    from labdata.catalog.engine.lake import Lake

__all__ = ["ALIAS", "ViewsFile", "attach_statement", "write_views"]

ALIAS = "lake"


@dataclass(frozen=True)
class ViewsFile:
    """What :func:`write_views` wrote: the file, its ATTACH statement and its views."""

    path: Path
    attach: str
    views: list[str]


def attach_statement(lake: Lake) -> str:
    """The one-line, read-only ``ATTACH`` of an embedded lake's catalog, for any DuckDB client.

    Raises
    ------
    CatalogError
        For a PostgreSQL catalog (its DSN may hold a password; attach it with your own credentials).
    """
    if lake.kind != "sqlite":
        raise CatalogError("Only an embedded lake (SQLite catalog) gets a views file.",
                           hint="Attach a PostgreSQL catalog yourself: ATTACH 'ducklake:postgres:<dsn>' AS lake "
                           "(DATA_PATH '<data path>', METADATA_SCHEMA '<schema>', READ_ONLY).")
    data_path = lake.data_path if lake.data_path.endswith("/") else lake.data_path + "/"
    return (f"ATTACH IF NOT EXISTS 'ducklake:sqlite:{_quote(str(lake.catalog_file))}' AS {ALIAS} "
            f"(DATA_PATH '{_quote(data_path)}', READ_ONLY)")


def write_views(context: Context, output: str | Path) -> ViewsFile:
    """Write a DuckDB file of views over the project's tables and the lab-wide ones.

    Parameters
    ----------
    context : Context
        The lake (embedded) and the project whose tables get views (in the file's ``main``
        schema, next to the ``lab`` tables).
    output : str or Path
        The file to write; an existing views file is replaced, any other file is refused.

    Raises
    ------
    ConfigError
        When ``output`` exists and is not a views file, or is named ``lake.duckdb``.
    UnknownProjectError
        When the lake has no such project.
    """
    require_project(context)
    output = Path(output).expanduser().resolve()
    _check_output(output)
    statement = attach_statement(context.lake)
    tables = _tables(context)
    connection = connect_duckdb(str(output))
    try:
        _load_extensions(connection)
        connection.execute(statement)
        connection.execute(MACROS)
        for name, schema, columns in tables:
            connection.execute(f'CREATE OR REPLACE VIEW main."{name}" AS SELECT {_select_list(columns)} '
                               f'FROM {ALIAS}."{schema}"."{name}"')
        connection.execute("CREATE OR REPLACE TABLE labdata_attach (statement VARCHAR, lake VARCHAR, "
                           "project VARCHAR, written TIMESTAMP)")
        connection.execute("INSERT INTO labdata_attach VALUES (?, ?, ?, ?)",
                           [statement, str(context.lake.root), context.project, dt.datetime.now()])
    finally:
        connection.close()
    return ViewsFile(output, statement, [name for name, _, _ in tables])


def _check_output(output: Path) -> None:
    if output.stem == ALIAS:
        raise ConfigError(f"A views file may not be named {output.name}: DuckDB would call it {ALIAS!r}, the name "
                          "the catalog is attached under.", hint="Name it e.g. lab.duckdb.")
    if not output.exists():
        return
    try:
        with duckdb.connect(str(output), read_only=True) as existing:
            existing.execute("SELECT statement FROM labdata_attach")
    except duckdb.Error:
        raise ConfigError(f"{output} exists and is not a labdata views file; it was left alone.",
                          hint="Give a new file name.") from None
    output.unlink()


def _tables(context: Context) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(table, schema, [(column, type)]) for every table of the project and the lab, project tables first."""
    schemas = [context.schema_for("data"), context.schema_for("computed"), LAB_SCHEMA]
    rows = context.lake.execute(
        "SELECT schema_name, table_name, column_name, data_type FROM duckdb_columns() "
        "WHERE database_name = ? AND list_contains(?, schema_name) ORDER BY table_name, column_index",
        [context.lake.alias, schemas]).fetchall()
    tables: dict[str, tuple[str, list[tuple[str, str]]]] = {}
    for schema, table, column, data_type in sorted(rows, key=lambda r: schemas.index(r[0])):
        if table in tables and tables[table][0] != schema:
            continue  # a name in two schemas: the project's wins, as in labdata.sql
        tables.setdefault(table, (schema, []))[1].append((column, data_type))
    return [(name, schema, columns) for name, (schema, columns) in sorted(tables.items())]


def _select_list(columns: list[tuple[str, str]]) -> str:
    return ", ".join(f'blob_list("{name}") AS "{name}"' if data_type == "BLOB" else f'"{name}"'
                     for name, data_type in columns)


def _load_extensions(connection: duckdb.DuckDBPyConnection) -> None:
    for name in ("ducklake", "sqlite_scanner"):
        connection.execute(f"LOAD '{_quote(extension_path(name))}'")


def _quote(text: str) -> str:
    return text.replace("'", "''")
