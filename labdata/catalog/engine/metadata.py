"""Cheap facts read from DuckLake's own metadata tables (the documented DuckLake spec).

Scanning a table through DuckLake costs a catalog scan (about 10 ms on SQLite);
knowing which tables are empty from the metadata costs one statement for all of
them, which lets a cascading delete skip the empty descendants.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import duckdb

if TYPE_CHECKING:
    from labdata.catalog.engine.lake import Lake

__all__ = ["live_tables", "live_tables_of", "metadata_table", "nonempty_tables"]

logger = logging.getLogger(__name__)


def metadata_table(lake: Lake, name: str) -> str:
    """Return the qualified name of one of DuckLake's metadata tables for ``lake``."""
    schema = f'."{lake.metadata_schema}"' if lake.metadata_schema else ""
    return f'__ducklake_metadata_{lake.alias}{schema}."{name}"'


def live_tables(lake: Lake, schema: str) -> list[str]:
    """Names of the tables of ``schema`` at the latest snapshot, sorted (raises duckdb.Error on an unknown layout)."""
    return live_tables_of(lake, [schema])[schema]


def live_tables_of(lake: Lake, schemas: list[str]) -> dict[str, list[str]]:
    """Names of the tables of each of ``schemas`` at the latest snapshot, sorted, in one metadata query."""
    marks = ", ".join("?" * len(schemas))
    rows = lake.execute(f"""
        SELECT s.schema_name, t.table_name
        FROM {metadata_table(lake, 'ducklake_table')} t
        JOIN {metadata_table(lake, 'ducklake_schema')} s USING (schema_id)
        WHERE t.end_snapshot IS NULL AND s.end_snapshot IS NULL AND s.schema_name IN ({marks})
        ORDER BY 1, 2""", list(schemas)).fetchall() if schemas else []
    found: dict[str, list[str]] = {schema: [] for schema in schemas}
    for schema, name in rows:
        found[schema].append(name)
    return found


def nonempty_tables(lake: Lake) -> set[tuple[str, str]] | None:
    """Return ``(schema, table)`` of every table that may hold rows, or None if unknown.

    A table may hold rows when it has a live Parquet data file or live rows
    inlined in the catalog. (A table whose every row was deleted from Parquet
    files still counts as non-empty: the answer errs on the side of looking.)
    """
    try:
        inlined = lake.execute(
            f"SELECT table_id, table_name FROM {metadata_table(lake, 'ducklake_inlined_data_tables')}").fetchall()
        live = [f"SELECT {int(table_id)} AS table_id FROM (SELECT 1 FROM {metadata_table(lake, name)} "
                "WHERE end_snapshot IS NULL LIMIT 1)" for table_id, name in inlined]
        with_rows = " UNION ALL ".join(live) or "SELECT NULL::BIGINT AS table_id WHERE false"
        sql = f"""
            SELECT s.schema_name, t.table_name
            FROM {metadata_table(lake, 'ducklake_table')} t
            JOIN {metadata_table(lake, 'ducklake_schema')} s USING (schema_id)
            WHERE t.end_snapshot IS NULL AND s.end_snapshot IS NULL AND (
                t.table_id IN (SELECT table_id FROM {metadata_table(lake, 'ducklake_data_file')}
                               WHERE end_snapshot IS NULL)
                OR t.table_id IN ({with_rows}))
        """
        return {(schema, table) for schema, table in lake.execute(sql).fetchall()}
    except duckdb.Error as error:  # a metadata layout we do not know: look at every table
        logger.warning("Could not read DuckLake's metadata (%s); checking every table", error)
        return None
