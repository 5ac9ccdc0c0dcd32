"""Opening a DuckLake catalog: the extensions (from the PyPI wheels, by file path), and retrying
what a concurrent writer can make fail for a moment."""

from __future__ import annotations

import contextlib
import importlib
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from labdata.core.errors import CatalogError, ExtensionMissingError

__all__ = ["DUCKDB_CONFIG", "EXTENSIONS", "backoff", "connect_duckdb", "extension_path", "is_conflict", "quote",
           "retry_on_conflict"]

#: The settings of every DuckDB database labdata opens. Extensions are loaded by file path from the installed
#: ``duckdb-extension-*`` wheels, never downloaded or auto-loaded. DuckDB's signature check hashes the whole
#: file on every LOAD (35 MB: ~60 ms per extension, two per lake opened, measured); the wheel was checked
#: against the package index's hash when pip installed it, so the check is off. No SQL surface can LOAD another
#: file: ``labdata.sql`` and the facade refuse LOAD and INSTALL statements.
DUCKDB_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False,
                 "allow_unsigned_extensions": True}

EXTENSIONS = {"sqlite": ("ducklake", "sqlite_scanner"), "postgres": ("ducklake", "postgres_scanner")}
_CONFLICT_MARKERS = ("database is locked", "transaction conflict", "conflict", "busy",
                     "could not serialize", "deadlock", "duplicate key")


def is_conflict(error: BaseException) -> bool:
    """Whether a DuckDB error is a write conflict worth retrying."""
    if not isinstance(error, duckdb.Error):
        return False
    text = str(error).lower()
    return isinstance(error, duckdb.TransactionException) or any(m in text for m in _CONFLICT_MARKERS)


def connect_duckdb(database: str = ":memory:") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with :data:`DUCKDB_CONFIG`."""
    return duckdb.connect(database, config=dict(DUCKDB_CONFIG))


def extension_path(name: str) -> str:
    """Return the file of a DuckDB extension shipped as a ``duckdb-extension-*`` wheel.

    Raises
    ------
    ExtensionMissingError
        When the wheel is not installed.
    """
    package = f"duckdb_extension_{name}"
    try:
        module = importlib.import_module(package)
    except ImportError:
        module = None
    files = sorted(Path(module.__file__).parent.glob("**/*.duckdb_extension")) if module else []
    if not files:
        wheel = package.replace("_", "-")
        raise ExtensionMissingError(
            f"The DuckDB extension {name!r} is not installed.",
            hint=f"pip install '{wheel}=={duckdb.__version__}' (labdata never downloads extensions).",
        )
    return str(files[0])


def configure_s3(connection: duckdb.DuckDBPyConnection, data_path: str, storage: Any) -> None:
    """Let ``connection`` read and write the Parquet files of an ``s3://`` ``data_path``.

    ``storage`` (a :class:`~labdata.core.storage.StorageSettings`) gives the endpoint and keys; they go into a
    temporary DuckDB secret scoped to the bucket, never into the catalog.

    Raises
    ------
    CatalogError
        No storage of the preferences holds the bucket.
    """
    bucket = data_path[len("s3://"):].split("/", 1)[0]
    if storage is None:
        raise CatalogError(f"No storage of the preferences holds the bucket of catalog.data_path {data_path!r}.",
                           hint=f"Add a storage with protocol s3, bucket {bucket!r}, its endpoint and keys.")
    connection.execute(f"LOAD '{quote(extension_path('httpfs'))}'")
    options = {"KEY_ID": storage.access_key, "SECRET": storage.secret_key, "SCOPE": f"s3://{bucket}"}
    url = storage.endpoint_url
    if url is not None:
        secure, _, host = url.partition("://")
        options |= {"ENDPOINT": host.rstrip("/"), "URL_STYLE": "path", "USE_SSL": secure == "https"}
    listed = ", ".join(f"{key} {_secret_value(value)}" for key, value in options.items() if value is not None)
    connection.execute(f"CREATE OR REPLACE SECRET labdata_data_path (TYPE s3, {listed})")


def _secret_value(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else f"'{quote(str(value))}'"


def prepare_sqlite_file(catalog_file: Path, lock: Any, *, read_only: bool) -> None:
    """Create a new SQLite catalog file in WAL mode, so that readers never block writers.

    An existing file is left alone: opening it with Python's sqlite3 while DuckDB
    holds it in this process would drop DuckDB's POSIX locks when closed. ``lock``
    (a file lock, or None) serialises two processes creating it.
    """
    import sqlite3

    if catalog_file.exists():
        return
    if read_only:
        raise CatalogError(f"No catalog at {catalog_file}.",
                           hint="Check the lake path; a lake is created by opening it writable.")
    catalog_file.parent.mkdir(parents=True, exist_ok=True)
    with lock or contextlib.nullcontext():
        if catalog_file.exists():
            return
        database = sqlite3.connect(catalog_file, timeout=60)
        try:
            database.execute("PRAGMA journal_mode=WAL")
        finally:
            database.close()


def quote(text: str) -> str:
    return text.replace("'", "''")


def backoff(attempt: int) -> float:
    return min(0.005 * 2 ** min(attempt, 8), 0.5) * (0.5 + random.random())


def retry_on_conflict(action: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline, attempt = time.monotonic() + timeout, 0
    while True:
        try:
            return action()
        except duckdb.Error as error:
            attempt += 1
            if not is_conflict(error) or time.monotonic() > deadline:
                raise CatalogError(f"Could not {what}: {error}",
                                   hint="Check the catalog path or DSN and that the database is reachable.") from error
            time.sleep(backoff(attempt))
