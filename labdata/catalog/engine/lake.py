"""The catalog engine: a DuckLake catalog attached to DuckDB.

A :class:`Lake` owns one DuckDB database with the DuckLake catalog attached
as ``lake``. The catalog database is a SQLite file under the lake folder (the
embedded default) or a PostgreSQL database (a lab); the table data are Parquet
files under ``data_path`` (small inserts are inlined in the catalog).

Extensions are loaded from the PyPI wheels by file path, with auto-install and
auto-load off, so a missing extension fails at once with a hint instead of
trying the network.

Concurrency
-----------
DuckLake commits optimistically. On a SQLite catalog any two overlapping write
transactions conflict at commit ("database is locked"); on PostgreSQL two
inserts into the same table both commit, which would let two writers insert
the same primary key. Every write transaction therefore also updates one row
of ``labdata_internal.write_guard`` on PostgreSQL, which makes concurrent
writers conflict, and :meth:`Lake.run` retries the whole unit of work with
backoff. Local writers on a SQLite catalog also take an exclusive file lock
for the duration of a write transaction, so they queue instead of conflicting.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb

from labdata.catalog.engine.attach import (
    EXTENSIONS,
    backoff,
    configure_s3,
    connect_duckdb,
    extension_path,
    is_conflict,
    prepare_sqlite_file,
    quote,
    retry_on_conflict,
)
from labdata.catalog.engine.commit_notes import CommitNotesMixin
from labdata.catalog.engine.deferred import DeferredWrites
from labdata.catalog.engine.listing import GUARD_SCHEMA, CatalogListing
from labdata.catalog.engine.locks import FileLock
from labdata.catalog.engine.replica import Replica
from labdata.catalog.engine.verified import KnownKeysMixin, VerifiedKeys
from labdata.core.errors import CatalogError, TransactionConflictError

if TYPE_CHECKING:
    from labdata.catalog.engine.replica import TableRef

__all__ = ["Lake", "extension_path", "is_conflict", "may_write"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


class Lake(CatalogListing, KnownKeysMixin, CommitNotesMixin):
    """An open DuckLake catalog.

    Parameters
    ----------
    kind : {"sqlite", "postgres"}
        The catalog database.
    root : str or Path
        The lake folder (holds ``catalog/`` and, for generic arrays, ``catalog/arrays``).
    dsn : str, optional
        PostgreSQL connection string (``dbname=lab host=...``); required for ``postgres``.
    data_path : str, optional
        Where Parquet data files go; default ``<root>/catalog/data/``.
    metadata_schema : str, optional
        PostgreSQL schema holding DuckLake's metadata (several lakes per database).
    read_only : bool
        Attach read-only.
    snapshot_version : int, optional
        Attach read-only as of this snapshot.
    snapshot_time : str or datetime, optional
        Attach read-only as of this time.
    inline_row_limit : int
        Inserts of at most this many rows are stored in the catalog database
        instead of creating a Parquet file (merged into Parquet later by
        :meth:`flush_inlined_data`).
    replica : bool
        Serve queries outside write transactions from an in-memory copy of the tables
        they read, kept at the latest snapshot (see :mod:`labdata.catalog.engine.replica`).
        Off for a lake opened at a snapshot.
    data_storage : StorageSettings, optional
        The S3 storage holding an ``s3://`` ``data_path`` (endpoint and keys, see ``configure_s3``).
    """

    alias = "lake"
    remote = False  # True for a lake reached through a facade (remote.RemoteLake)

    def __init__(self, kind: str, root: str | Path, *, dsn: str | None = None,
                 data_path: str | None = None, metadata_schema: str | None = None,
                 read_only: bool = False, snapshot_version: int | None = None,
                 snapshot_time: Any = None, inline_row_limit: int = 500,
                 replica: bool = True, attach_timeout: float = 60.0, data_storage: Any = None) -> None:
        if kind not in EXTENSIONS:
            raise CatalogError(f"Unknown catalog kind {kind!r}.", hint="Use 'sqlite' or 'postgres'.")
        if kind == "postgres" and not dsn:
            raise CatalogError("A PostgreSQL catalog needs a DSN.",
                               hint="Set catalog.dsn, e.g. 'dbname=lab host=db.example.org'.")
        self.kind, self.root, self.dsn = kind, Path(root).expanduser().resolve(), dsn
        self._default_data_path = not data_path
        self.data_path = data_path or str(self.root / "catalog" / "data") + "/"
        self.metadata_schema = metadata_schema
        self.read_only = read_only or snapshot_version is not None or snapshot_time is not None
        self.snapshot_version, self.snapshot_time = snapshot_version, snapshot_time
        self.inline_row_limit = inline_row_limit
        self.data_storage = data_storage
        self._local = threading.local()
        self.ensured: set[tuple[int, int, str]] = set()  # (registry id, its version, project)
        self._internal: set[tuple[str, str]] = set()
        self.verified = VerifiedKeys()
        self._lock = FileLock(self.catalog_file.with_suffix(".lock")) if kind == "sqlite" else None
        self._connection = self._connect(attach_timeout)
        pinned = snapshot_version is not None or snapshot_time is not None
        self.replica = Replica(self) if replica and not pinned else None

    # ---- opening ------------------------------------------------------------
    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> Lake:
        """Open the lake described by a ``CatalogSettings`` (kind, dsn, data_path, lake_path)."""
        kwargs.setdefault("replica", getattr(settings, "replica", True))
        kwargs.setdefault("data_storage", getattr(settings, "data_storage", None))
        return cls(settings.kind, settings.lake_path, dsn=settings.dsn,
                   data_path=settings.data_path, **kwargs)

    @property
    def catalog_file(self) -> Path:
        """The SQLite catalog file of an embedded lake (``dsn`` if given, else under the root)."""
        if self.kind == "sqlite" and self.dsn:
            return Path(self.dsn).expanduser()
        return self.root / "catalog" / "catalog.sqlite"

    def _catalog_url(self) -> str:
        if self.kind == "sqlite":
            return f"ducklake:sqlite:{self.catalog_file}"
        return f"ducklake:postgres:{self.dsn}"

    def _attach_options(self) -> str:
        options = [f"DATA_PATH '{quote(self.data_path)}'"]
        if self._default_data_path and self.kind == "sqlite":
            options.append("OVERRIDE_DATA_PATH true")  # the data follow the lake folder when it moves
        if self.metadata_schema:
            options.append(f"METADATA_SCHEMA '{quote(self.metadata_schema)}'")
        if self.read_only:
            options.append("READ_ONLY")
        if self.snapshot_version is not None:
            options.append(f"SNAPSHOT_VERSION {int(self.snapshot_version)}")
        if self.snapshot_time is not None:
            options.append(f"SNAPSHOT_TIME '{quote(str(self.snapshot_time))}'")
        if not self.read_only:
            options.append(f"DATA_INLINING_ROW_LIMIT {int(self.inline_row_limit)}")
        return ", ".join(options)

    def _connect(self, timeout: float) -> duckdb.DuckDBPyConnection:
        connection = connect_duckdb()
        for name in EXTENSIONS[self.kind]:
            connection.execute(f"LOAD '{quote(extension_path(name))}'")
        if self.data_path.startswith("s3://"):
            configure_s3(connection, self.data_path, self.data_storage)
        if self.kind == "sqlite":
            prepare_sqlite_file(self.catalog_file, self._lock, read_only=self.read_only)
        statement = f"ATTACH '{quote(self._catalog_url())}' AS {self.alias} ({self._attach_options()})"
        retry_on_conflict(lambda: connection.execute(statement), timeout, "attach the catalog")
        return connection

    def close(self) -> None:
        """Close the DuckDB connection."""
        with contextlib.suppress(duckdb.Error):
            self._connection.close()

    def __enter__(self) -> Lake:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.catalog_file if self.kind == "sqlite" else self.metadata_schema or "postgres"
        state = " read-only" if self.read_only else ""
        return f"<Lake {self.kind} {where}{state}>"

    # ---- executing -----------------------------------------------------------
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """Return this thread's cursor (DuckDB connections are not shared across threads)."""
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._connection.cursor()
            self._local.cursor = cursor
            self._local.depth, self._local.found, self._local.validated = 0, None, False
        return cursor

    def open_cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor of the lake's connection, owned by the caller (e.g. a facade session, across threads)."""
        return self._connection.cursor()

    def execute(self, sql: str, params: Any = None) -> duckdb.DuckDBPyConnection:
        """Execute one statement on this thread's cursor.

        A statement that may change rows makes the lake forget the keys it knows (it
        cannot tell which keys changed); outside a transaction it runs in one, so that
        it is serialised with every other writer.
        """
        params = self._register_relations(params)
        if not may_write(sql):
            return self.cursor().execute(sql, params)
        if self.in_transaction:
            self.forget_keys()
            return self.cursor().execute(sql, params)
        with self.transaction():  # a write outside labdata's transactions still takes the lock or the guard
            self.forget_keys()
            return self.cursor().execute(sql, params)

    def _register_relations(self, params: Any) -> Any:
        """Register the Arrow tables among named parameters as relations of this thread's cursor.

        A compiled query names the tables it joins (fetched keys, see :class:`~labdata.catalog.expr.keys.KeyList`)
        among its parameters; the previous statement's relations are dropped first.
        """
        cursor = self.cursor()
        for name in getattr(self._local, "relations", ()):
            cursor.unregister(name)
        self._local.relations = []
        if not isinstance(params, dict):
            return params
        import pyarrow as pa

        relations = {name: value for name, value in params.items() if isinstance(value, pa.Table)}
        for name, table in relations.items():
            cursor.register(name, table)
        self._local.relations = list(relations)
        return {name: value for name, value in params.items() if name not in relations} if relations else params

    def read_catalog(self, tables: Iterable[TableRef]) -> str:
        """Return the attached database a query reading ``tables`` should use.

        The read replica, brought to the latest snapshot, unless this thread is in a
        write transaction (whose own rows only the lake sees) or the replica is off.
        """
        deferred = self.deferred
        if deferred is not None:
            tables = list(tables)
            if deferred.touches(table.place for table in tables):
                raise deferred.refuse("a deferred make read a table it wrote")
        if self.replica is None or self.in_transaction:
            return self.alias
        if deferred is None:
            return self.replica.catalog_for(tables)
        refresh, deferred.snapshot_read = not deferred.snapshot_read, True
        return self.replica.catalog_for(tables, refresh=refresh)

    @property
    def deferred(self) -> DeferredWrites | None:
        """The buffer of this thread's deferred make (:meth:`deferring`), None inside a transaction."""
        self.cursor()
        return None if self._local.depth else getattr(self._local, "deferred", None)

    @contextlib.contextmanager
    def deferring(self, buffer: DeferredWrites) -> Iterator[DeferredWrites]:
        """Buffer this thread's inserts in ``buffer`` instead of writing them (see :mod:`.deferred`).

        Inside, opening a write transaction raises :class:`~labdata.catalog.engine.deferred.NeedsTransaction`.
        """
        if self.in_transaction:
            raise CatalogError("Cannot defer writes inside a write transaction.",
                               hint="Enter deferring() outside lake.transaction().")
        self._local.deferred = buffer
        try:
            yield buffer
        finally:
            self._local.deferred = None

    @property
    def in_transaction(self) -> bool:
        """Whether this thread is inside :meth:`transaction`."""
        self.cursor()
        return self._local.depth > 0

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Lake]:
        """One write transaction spanning any number of tables (nested blocks join it).

        A conflict with a concurrent writer at commit raises
        :class:`TransactionConflictError`; use :meth:`run` to retry automatically.
        """
        cursor = self.cursor()
        if self._local.depth:
            self._local.depth += 1
            try:
                yield self
            finally:
                self._local.depth -= 1
            return
        deferred = getattr(self._local, "deferred", None)
        if deferred is not None:
            raise deferred.refuse("a deferred make opened a write transaction")
        with self._write_lock():
            cursor.execute("BEGIN TRANSACTION")
            self._local.depth, self._local.found, self._local.validated = 1, {}, False
            self._local.complete, self._local.wrote, self._local.base_snapshot = {}, False, None
            try:
                yield self
                self._touch_guard(cursor)
                self._write_commit_note(cursor)
                cursor.execute("COMMIT")
                self._record_found_keys()
            except BaseException as error:
                self.verified.forget()
                with contextlib.suppress(duckdb.Error):
                    cursor.execute("ROLLBACK")
                if is_conflict(error):
                    raise TransactionConflictError(f"The write conflicted with another writer: {error}") from error
                raise
            finally:
                self._local.depth, self._local.found = 0, None

    def _write_lock(self) -> contextlib.AbstractContextManager[Any]:
        if self.read_only:
            raise CatalogError(f"{self!r} is read-only.",
                               hint="Open the lake without a snapshot to write.")
        return self._lock or contextlib.nullcontext()

    def _touch_guard(self, cursor: duckdb.DuckDBPyConnection) -> None:
        if self.kind == "postgres":
            cursor.execute(f"UPDATE {self.alias}.{GUARD_SCHEMA}.write_guard SET n = n + 1")

    def run(self, work: Callable[[], T], *, max_retries: int = 200, timeout: float = 300.0) -> T:
        """Run ``work()`` in a write transaction, retrying it from the start on conflicts.

        Parameters
        ----------
        work : callable
            Does the reads, checks and writes; must be safe to run again.
        max_retries : int
            Attempts before giving up.
        timeout : float
            Seconds before giving up.

        Raises
        ------
        TransactionConflictError
            When every attempt conflicted.
        """
        if self.in_transaction:
            return work()
        deadline, attempt = time.monotonic() + timeout, 0
        while True:
            try:
                with self.transaction():
                    return work()
            except TransactionConflictError:
                attempt += 1
                if attempt >= max_retries or time.monotonic() > deadline:
                    raise
                time.sleep(backoff(attempt))

    def at(self, *, version: int | None = None, timestamp: Any = None) -> Lake:
        """Open this lake again, read-only, as it was at a snapshot version or a time.

        Examples
        --------
        >>> before = lake.at(version=12)        # doctest: +SKIP
        """
        if (version is None) == (timestamp is None):
            raise CatalogError("Give exactly one of version= or timestamp=.",
                               hint="lake.snapshots() lists the versions and their times.")
        return self.reopened(snapshot_version=version, snapshot_time=timestamp)

    def reopened(self, **options: Any) -> Lake:
        """The same catalog opened again (its own DuckDB database) with ``options`` of :class:`Lake`."""
        same = dict(dsn=self.dsn, metadata_schema=self.metadata_schema, data_storage=self.data_storage,
                    data_path=None if self._default_data_path else self.data_path)
        return Lake(self.kind, self.root, **(same | options))


# CALLs (ducklake_flush_inlined_data, merges, expiry) change no rows' values, and DuckLake 1.5.5 fails an
# internal assertion when a flush shares a transaction with the guard-row update: they run on their own.
_WRITING = ("INSERT", "UPDATE", "DELETE", "MERGE", "CREATE", "DROP", "ALTER", "COPY", "TRUNCATE")


def may_write(sql: str) -> bool:
    """Whether ``sql`` starts as a statement that may change rows or tables (a CALL changes no rows' values)."""
    return sql.lstrip().upper().startswith(_WRITING)


