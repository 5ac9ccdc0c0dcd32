"""Opening a DuckLake catalog: the extensions (from the PyPI wheels, by file path), and retrying
what a concurrent writer can make fail for a moment."""

from __future__ import annotations

import importlib
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from labdata.core.errors import CatalogError, ExtensionMissingError

__all__ = ["EXTENSIONS", "backoff", "extension_path", "is_conflict", "quote", "retry_on_conflict"]

EXTENSIONS = {"sqlite": ("ducklake", "sqlite_scanner"), "postgres": ("ducklake", "postgres_scanner")}
_CONFLICT_MARKERS = ("database is locked", "transaction conflict", "conflict", "busy",
                     "could not serialize", "deadlock", "duplicate key")


def is_conflict(error: BaseException) -> bool:
    """Whether a DuckDB error is a write conflict worth retrying."""
    if not isinstance(error, duckdb.Error):
        return False
    text = str(error).lower()
    return isinstance(error, duckdb.TransactionException) or any(m in text for m in _CONFLICT_MARKERS)


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
