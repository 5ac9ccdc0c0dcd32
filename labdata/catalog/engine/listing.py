"""What a lake holds: its schemas and tables, labdata's bookkeeping tables, snapshots and data files."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import duckdb

from labdata.catalog.engine.metadata import live_tables, live_tables_of, metadata_table

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["GUARD_SCHEMA", "CatalogListing"]

GUARD_SCHEMA = "labdata_internal"


class CatalogListing:
    """Mixed into :class:`~labdata.catalog.engine.lake.Lake`: listing and bookkeeping over its catalog."""

    alias: str
    read_only: bool
    snapshot_version: int | None
    snapshot_time: Any
    _internal: set[tuple[str, str]]

    if TYPE_CHECKING:  # provided by the Lake
        @property
        def in_transaction(self) -> bool: ...
        def execute(self, sql: str, params: Any = None) -> duckdb.DuckDBPyConnection: ...
        def run(self, work: Callable[[], Any], *, max_retries: int = 200, timeout: float = 300.0) -> Any: ...
        def cursor(self) -> duckdb.DuckDBPyConnection: ...

    def create_internal(self) -> None:
        """Create labdata's own bookkeeping tables (idempotent; no snapshot when they exist)."""
        if self.read_only or (self.alias, "write_guard") in self._internal:
            return
        if "write_guard" in self.tables(GUARD_SCHEMA):
            self._internal.add((self.alias, "write_guard"))
            return

        def create() -> None:
            self.execute(f"CREATE SCHEMA IF NOT EXISTS {self.alias}.{GUARD_SCHEMA}")
            self.execute(f"CREATE TABLE IF NOT EXISTS {self.alias}.{GUARD_SCHEMA}.write_guard (n BIGINT)")
            if not self.execute(f"SELECT count(*) FROM {self.alias}.{GUARD_SCHEMA}.write_guard").fetchone()[0]:
                self.execute(f"INSERT INTO {self.alias}.{GUARD_SCHEMA}.write_guard VALUES (0)")

        self.run(create)

    def internal_table(self, name: str, columns: str) -> str:
        """Create labdata's bookkeeping table ``name`` (``columns`` as in CREATE TABLE) if missing; return its name.

        Bookkeeping tables live in a schema the views and :meth:`schemas` do not show.
        """
        qualified = f"{self.alias}.{GUARD_SCHEMA}.{name}"
        if (self.alias, name) not in self._internal:
            self.create_internal()
            if name not in self.tables(GUARD_SCHEMA):
                self.run(lambda: self.execute(f"CREATE TABLE IF NOT EXISTS {qualified} ({columns})"))
            self._internal.add((self.alias, name))
        return qualified

    def schemas(self) -> list[str]:
        """Return the names of the schemas in the catalog."""
        rows = self.execute(
            "SELECT schema_name FROM duckdb_schemas() WHERE database_name = ? ORDER BY 1", [self.alias]
        ).fetchall()
        return [name for (name,) in rows if name not in ("main", GUARD_SCHEMA)]

    def tables_of(self, schemas: list[str]) -> dict[str, list[str]]:
        """The names of the tables of each of ``schemas`` (one metadata query where :meth:`tables` can use one)."""
        if self.snapshot_version is None and self.snapshot_time is None and not self.in_transaction:
            with contextlib.suppress(duckdb.Error):
                return live_tables_of(self, schemas)
        return {schema: self.tables(schema) for schema in schemas}

    def tables(self, schema: str) -> list[str]:
        """Return the names of the tables of ``schema``.

        Read from DuckLake's metadata tables (one indexed query, ~5 ms) when the lake is at
        its latest snapshot and outside a transaction; ``duckdb_tables()`` scans every
        table of the catalog (~250 ms for a project's tables) and is the fallback.
        """
        if self.snapshot_version is None and self.snapshot_time is None and not self.in_transaction:
            with contextlib.suppress(duckdb.Error):
                return live_tables(self, schema)
        rows = self.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? ORDER BY 1",
            [self.alias, schema],
        ).fetchall()
        return [name for (name,) in rows]

    # ---- snapshots ---------------------------------------------------------------
    def snapshots(self) -> pd.DataFrame:
        """Return every snapshot: id, time, schema version and the changes it made."""
        return self.execute(
            f"SELECT snapshot_id, snapshot_time, schema_version, changes FROM {self.alias}.snapshots() "
            "ORDER BY snapshot_id"
        ).to_arrow_table().to_pandas()

    def current_snapshot(self) -> int:
        """Return the id of the latest snapshot."""
        return int(self.execute(f"SELECT max(snapshot_id) FROM {self.alias}.snapshots()").fetchone()[0])

    def flush_inlined_data(self) -> None:
        """Move rows inlined in the catalog database into Parquet files."""
        self.cursor().execute(f"CALL ducklake_flush_inlined_data('{self.alias}')")

    def data_files(self) -> int:
        """Return the number of live Parquet data files."""
        sql = f"SELECT count(*) FROM {metadata_table(self, 'ducklake_data_file')} WHERE end_snapshot IS NULL"
        return int(self.execute(sql).fetchone()[0])
