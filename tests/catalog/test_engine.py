"""The DuckLake engine: extensions, attaching, locks, retries, schemas."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from labdata.catalog import Context, Lake, use
from labdata.catalog.engine.attach import extension_path
from labdata.core.errors import CatalogError, ConfigError, ExtensionMissingError, TransactionConflictError
from labdata.schema import LabMember, registry


def test_extensions_come_from_the_wheels_and_a_missing_one_says_what_to_install() -> None:
    assert extension_path("ducklake").endswith("ducklake.duckdb_extension")
    with pytest.raises(ExtensionMissingError, match="not installed") as raised:
        extension_path("no_such_extension")
    assert "pip install 'duckdb-extension-no-such-extension==1.5.5'" in raised.value.hint


def test_tables_are_created_once_in_lab_and_project_schemas(lakes, lake) -> None:
    context = Context(lake, "mice")
    with use(context):
        assert len(LabMember()) == 0
    assert {"lab", "mice", "mice_computed"} <= set(lake.schemas())
    declared = {registry.schema(n).sql_name for n in registry.declaration_order()}
    created = {t for s in ("lab", "mice", "mice_computed") for t in lake.tables(s)}
    assert created == declared
    snapshots = len(lake.snapshots())
    with use(Context(lakes.open(), "mice")):
        assert len(LabMember()) == 0
    assert len(lake.snapshots()) == snapshots, "creating twice changes nothing"
    assert lake.data_files() == 0, "nothing was written to Parquet yet"


LOCK_HOLDER = """
import sqlite3, sys, time
database = sqlite3.connect(sys.argv[1], isolation_level=None)
database.execute("BEGIN EXCLUSIVE")
database.execute("CREATE TABLE another_writer (a)")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
database.execute("ROLLBACK")
"""


def test_a_locked_sqlite_catalog_is_retried(tmp_path: Path) -> None:
    """While another process holds the catalog file locked, attaching works and writes are retried.

    (The holder must be another process: SQLite's POSIX locks do not separate two SQLite
    libraries, Python's and DuckDB's, inside one process.)
    """
    Lake("sqlite", tmp_path / "lake").close()
    catalog = tmp_path / "lake" / "catalog" / "catalog.sqlite"
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(catalog), "2"], stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout.readline().strip() == "locked"
    lake = Lake("sqlite", tmp_path / "lake")  # in WAL mode reading never waits for a writer
    started = time.monotonic()
    lake.create_internal()  # "database is locked" is retried with backoff until the lock goes
    assert time.monotonic() - started >= 1.0, "the write waited for the lock"
    assert "write_guard" in lake.tables("labdata_internal")
    assert holder.wait(timeout=30) == 0
    lake.close()


def test_run_retries_the_whole_unit_of_work_on_conflicts(sqlite_lake) -> None:
    attempts = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise TransactionConflictError("simulated conflict with another writer")
        return "done"

    assert sqlite_lake.run(flaky) == "done"
    assert len(attempts) == 3


def test_run_gives_up_after_max_retries(sqlite_lake) -> None:
    def always() -> None:
        raise TransactionConflictError("conflict")

    with pytest.raises(TransactionConflictError):
        sqlite_lake.run(always, max_retries=3)


def test_bad_settings_are_reported(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="Unknown catalog kind"):
        Lake("mysql", tmp_path)
    with pytest.raises(CatalogError, match="DSN"):
        Lake("postgres", tmp_path)
    with pytest.raises(CatalogError, match="No catalog"):
        Lake("sqlite", tmp_path / "nothing", read_only=True)
    with pytest.raises(ConfigError, match="valid project"):
        Context(Lake("sqlite", tmp_path / "x"), "Bad Name; DROP")
