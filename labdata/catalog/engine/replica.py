"""A local read replica of the tables queries read, kept at the catalog's latest snapshot.

Reading a table through DuckLake costs a catalog scan on every statement (10–30 ms
on a SQLite catalog, more for a table of many files) before DuckDB touches a row.
Queries outside write transactions therefore read from a replica: an in-memory
DuckDB database holding a copy of each table a query has read, sorted by primary
key (so that DuckDB's zone maps skip to a key), all at one snapshot.

Before every read the replica asks the catalog for its latest snapshot id (one
small metadata query, about 1 ms). On a SQLite catalog that query is skipped while
a fingerprint of the catalog files (:class:`CatalogStamp`) is as it was at the
last query, for at most a second. When the snapshot moved on, the replica reads which tables changed
since (``ducklake_snapshot_changes``) and marks its copies of them stale; a stale
copy is brought up to date when a query next reads it, from the table's row
changes (``ducklake_table_changes``): the rows of every touched key are replaced
by the rows of that key at the new snapshot. Reads therefore see the committed
changes the lake would show (on SQLite, within the fingerprint's bound); reads inside a write transaction, which
must see the transaction's own rows, go to the lake. So does the first read of a
table not copied yet or written since it was last read (``reads_before_copy``):
a loop that writes and reads in turn pays for no copies it would not use.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from labdata.catalog.engine.key_index import KeyIndex
from labdata.catalog.engine.metadata import metadata_table

if TYPE_CHECKING:
    from collections.abc import Iterable

    from labdata.catalog.engine.lake import Lake

__all__ = ["CatalogStamp", "Replica", "TableRef"]

logger = logging.getLogger(__name__)

# snapshot changes that alter the rows of one table (the value is the table id)
_ROW_CHANGES = {"inserted_into_table", "deleted_from_table", "inlined_insert", "inlined_delete"}
# changes that leave every existing table's rows and columns as they were
_NEUTRAL = {"created_schema", "created_table", "created_view", "inline_flush", "compacted_table",
            "dropped_view", "altered_view", "merge_adjacent_files"}
# changes that make one table's copy unusable (columns changed, or the table is gone)
_TABLE_GONE = {"altered_table", "dropped_table"}
_KNOWN = _ROW_CHANGES | _NEUTRAL | _TABLE_GONE
_CHANGE = re.compile(r'(\w+):((?:"(?:[^"]|"")*"\.?)+|[^,]*)')


class CatalogStamp:
    """A fingerprint of a SQLite catalog's files, to skip looking for a new snapshot.

    Every commit grows the write-ahead log, restarts it (new header) or, when the
    log is checkpointed into the database file, changes that file's size or time.
    File times are coarse, so a fingerprint taken less than ``quiet_seconds``
    after the database file changed is not relied on. A commit caught between
    writing the log and publishing it is missed until the fingerprint changes or
    ``trust_seconds`` pass, whichever is first: commits of this process are seen
    at once, those of others at once or, in that race, within ``trust_seconds``.
    Only the log is opened (SQLite never locks it, so closing it cannot drop
    another connection's locks).

    Parameters
    ----------
    path : Path
        The SQLite catalog file.
    quiet_seconds, trust_seconds : float
        See above.
    """

    def __init__(self, path: os.PathLike[str] | str, *, quiet_seconds: float = 0.1,
                 trust_seconds: float = 1.0) -> None:
        self.path = os.fspath(path)
        self.wal = self.path + "-wal"
        self.quiet_seconds, self.trust_seconds = quiet_seconds, trust_seconds
        self._recorded: tuple | None = None
        self._recorded_at = 0.0

    def unchanged(self) -> bool:
        """Whether the files are as recorded by :meth:`record`, recently enough to rely on."""
        if self._recorded is None or time.monotonic() - self._recorded_at > self.trust_seconds:
            return False
        return self._read() == self._recorded

    def take(self) -> tuple[tuple | None, float]:
        """Read the fingerprint now (before asking the catalog), for :meth:`record`."""
        return self._read(), time.monotonic()

    def record(self, taken: tuple[tuple | None, float]) -> None:
        """Keep a fingerprint from :meth:`take` if the database file was quiet when it was read."""
        state, when = taken
        quiet = state is not None and time.time_ns() - state[0][2] > self.quiet_seconds * 1e9
        self._recorded, self._recorded_at = (state, when) if quiet else (None, 0.0)

    def _read(self) -> tuple | None:
        main = _file_state(self.path)
        if main is None:
            return None
        wal = _file_state(self.wal)
        return main, wal[:2] if wal else None, _wal_header(self.wal) if wal else None


def _file_state(path: str) -> tuple[int, int, int] | None:
    try:
        state = os.stat(path)
    except FileNotFoundError:
        return None
    return state.st_ino, state.st_size, state.st_mtime_ns


def _wal_header(path: str) -> bytes | None:
    try:
        with open(path, "rb") as wal:
            return wal.read(32)
    except FileNotFoundError:
        return None


def _physical_memory() -> int:
    """Bytes of memory of this machine (4 GiB if the system does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return 4 << 30


@dataclass(frozen=True)
class TableRef:
    """A table a query reads: schema, table name and primary key."""

    schema: str
    name: str
    key: tuple[str, ...]

    @property
    def key_columns(self) -> str:
        """The primary key as quoted SQL column names, ``"a", "b"``."""
        return ", ".join(f'"{k}"' for k in self.key)

    @property
    def place(self) -> tuple[str, str]:
        """``(schema, name)``: where the table is, in the lake and in the replica."""
        return self.schema, self.name


@dataclass
class _Copy:
    ref: TableRef
    table_id: int
    version: int  # the snapshot whose rows the copy holds
    rows: int
    stale: bool = False


class Replica:
    """The read replica of one :class:`~labdata.catalog.engine.Lake` (see the module docstring).

    Parameters
    ----------
    lake : Lake
        The lake whose tables are copied.
    """

    alias = "replica"
    #: reads of a table not copied yet, or written since, that go to the lake before it is
    #: copied or brought up to date (so that a write-read-write loop costs no more than the lake)
    reads_before_copy = 1

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self._lock = threading.RLock()
        self._copies: dict[tuple[str, str], _Copy] = {}
        self._seen: int | None = None
        self._misses: dict[tuple[str, str], int] = {}
        #: memory all key indexes may hold (an eighth of the machine's); the least recently used goes first
        self.index_bytes = _physical_memory() // 8
        self._indexes: OrderedDict[tuple[str, str], KeyIndex] = OrderedDict()
        self._too_big: dict[tuple[str, str], int] = {}  # place -> snapshot at which its rows outgrew index_bytes
        self.stamp = CatalogStamp(lake.catalog_file) if lake.kind == "sqlite" else None
        self._cursor = lake._connection.cursor()
        self._cursor.execute(f"ATTACH ':memory:' AS {self.alias} (COMPRESS)")

    def catalog_for(self, tables: Iterable[TableRef], *, refresh: bool = True) -> str:
        """Bring the copies of ``tables`` to the latest snapshot; return the catalog to read them from.

        With ``refresh`` false, the snapshot of the previous read is kept (a batch of deferred makes reads
        at one snapshot, as a transaction would, without asking the catalog again).
        """
        with self._lock:
            latest = self._seen if not refresh and self._seen is not None else self._latest_snapshot()
            if self._seen is not None and latest != self._seen:
                self._note_changes(self._seen, latest)
            self._seen = latest
            pending = [ref for ref in tables if ref.place not in self._copies or self._copies[ref.place].stale]
            if any(self._misses.get(ref.place, 0) < self.reads_before_copy for ref in pending):
                for ref in pending:  # written since it was read: the lake answers this once more
                    self._misses[ref.place] = self._misses.get(ref.place, 0) + 1
                return self.lake.alias
            for ref in pending:
                copy = self._copies.get(ref.place)
                if copy is None:
                    self._copy(ref, latest)
                else:
                    self._refresh(copy, latest)
                self._misses.pop(ref.place, None)
        return self.alias

    @property
    def tables(self) -> list[tuple[str, str]]:
        """``(schema, table)`` of every table held, for inspection."""
        return sorted(self._copies)

    def clear(self) -> None:
        """Drop every copy (the next query copies what it reads again)."""
        with self._lock:
            for copy in list(self._copies.values()):
                self._drop(copy)

    # ---- snapshots and changes -------------------------------------------------------
    def _latest_snapshot(self) -> int:
        """The catalog's latest snapshot id, or the one seen last if the catalog files did not change."""
        if self.stamp is not None and self._seen is not None and self.stamp.unchanged():
            return self._seen
        # the fingerprint is read before the query, so a commit after it changes the files again
        taken = self.stamp.take() if self.stamp is not None else None
        sql = f"SELECT max(snapshot_id) FROM {metadata_table(self.lake, 'ducklake_snapshot')}"
        latest = int(self._cursor.execute(sql).fetchone()[0])
        if taken is not None:
            self.stamp.record(taken)
        return latest

    def _note_changes(self, since: int, latest: int) -> None:
        sql = (f"SELECT changes_made FROM {metadata_table(self.lake, 'ducklake_snapshot_changes')} "
               "WHERE snapshot_id > ? AND snapshot_id <= ? ORDER BY snapshot_id")
        by_id = {str(copy.table_id): copy for copy in self._copies.values()}
        for (changes,) in self._cursor.execute(sql, [since, latest]).fetchall():
            for kind, value in _CHANGE.findall(changes or ""):
                if kind in _ROW_CHANGES and value in by_id:
                    by_id[value].stale = True
                    self._misses.pop(by_id[value].ref.place, None)
                elif kind in _TABLE_GONE and value in by_id:
                    self._drop(by_id.pop(value))
                elif kind not in _KNOWN:
                    logger.debug("snapshot change %r: dropping the replica", kind)
                    self.clear()
                    by_id = {}

    # ---- copies --------------------------------------------------------------------------
    def _name(self, ref: TableRef) -> str:
        return f'{self.alias}."{ref.schema}"."{ref.name}"'

    def _source(self, ref: TableRef, version: int, alias: str = "c") -> str:
        return f'{self.lake.alias}."{ref.schema}"."{ref.name}" AS {alias} AT (VERSION => {int(version)})'

    def _copy(self, ref: TableRef, version: int) -> None:
        order = ref.key_columns or "ALL"
        self._cursor.execute(f'CREATE SCHEMA IF NOT EXISTS {self.alias}."{ref.schema}"')
        self._cursor.execute(f"CREATE OR REPLACE TABLE {self._name(ref)} AS "
                             f"SELECT * FROM {self._source(ref, version)} ORDER BY {order}")
        rows = self._cursor.execute(f"SELECT count(*) FROM {self._name(ref)}").fetchone()[0]
        self._copies[ref.place] = _Copy(ref, self._table_id(ref, version), version, int(rows))
        self._indexes.pop(ref.place, None)

    def _table_id(self, ref: TableRef, version: int) -> int:
        def live(alias: str) -> str:
            return f"{alias}.begin_snapshot <= $v AND ({alias}.end_snapshot IS NULL OR {alias}.end_snapshot > $v)"

        sql = (f"SELECT t.table_id FROM {metadata_table(self.lake, 'ducklake_table')} t "
               f"JOIN {metadata_table(self.lake, 'ducklake_schema')} s USING (schema_id) "
               f"WHERE s.schema_name = $schema AND t.table_name = $name AND {live('t')} AND {live('s')}")
        row = self._cursor.execute(sql, {"schema": ref.schema, "name": ref.name, "v": version}).fetchone()
        return int(row[0]) if row else -1

    def _drop(self, copy: _Copy) -> None:
        self._cursor.execute(f"DROP TABLE IF EXISTS {self._name(copy.ref)}")
        self._copies.pop(copy.ref.place, None)
        self._indexes.pop(copy.ref.place, None)

    def _refresh(self, copy: _Copy, latest: int) -> None:
        """Replace the rows of every key that changed between the copy's snapshot and ``latest``."""
        ref = copy.ref
        if not ref.key:
            self._copy(ref, latest)
            return
        try:
            touched = self._cursor.execute(
                f"SELECT DISTINCT {ref.key_columns} FROM ducklake_table_changes(?, ?, ?, ?, ?)",
                [self.lake.alias, ref.schema, ref.name, copy.version + 1, latest]).to_arrow_table()
        except duckdb.Error as error:  # e.g. the snapshots in between were expired
            logger.debug("no row changes for %s (%s): copying it again", ref.name, error)
            self._copy(ref, latest)
            return
        if touched.num_rows > max(10_000, copy.rows // 10):
            self._copy(ref, latest)
            return
        self._apply(copy, touched, latest)

    def _apply(self, copy: _Copy, touched: object, latest: int) -> None:
        ref, cursor = copy.ref, self._cursor
        target = self._name(ref)
        on = " AND ".join(f'c."{k}" = k."{k}"' for k in ref.key)
        cursor.register("labdata_touched_keys", touched)
        try:
            cursor.execute("BEGIN TRANSACTION")
            cursor.execute(f"DELETE FROM {target} AS c USING labdata_touched_keys AS k WHERE {on}")
            cursor.execute(f"INSERT INTO {target} SELECT c.* FROM {self._source(ref, latest)} "
                           f"SEMI JOIN labdata_touched_keys AS k ON {on}")
            cursor.execute("COMMIT")
        except BaseException:
            cursor.execute("ROLLBACK")
            self._drop(copy)
            raise
        finally:
            cursor.unregister("labdata_touched_keys")
        copy.rows = int(cursor.execute(f"SELECT count(*) FROM {target}").fetchone()[0])
        copy.version, copy.stale = latest, False
        self._update_index(copy, touched)

    # ---- key indexes ---------------------------------------------------------------------
    def key_index(self, ref: TableRef, max_rows: int | None = None) -> KeyIndex | None:
        """The Arrow rows of a current copy, for in-process key lookups; ``None`` if there is none (yet).

        Made at the first lookup of the copy at its snapshot (the caller has just brought
        the copy up to date), kept current by :meth:`_refresh`, and dropped when the copy
        is copied again or the indexes outgrow ``index_bytes``. A copy of more than
        ``max_rows`` rows (if given) has none for this lookup.
        """
        with self._lock:
            copy = self._copies.get(ref.place)
            if copy is None or copy.stale or not ref.key or (max_rows is not None and copy.rows > max_rows):
                return None
            index = self._indexes.get(ref.place)
            if index is not None and index.version == copy.version:
                self._indexes.move_to_end(ref.place)
                return index
            if self._too_big.get(ref.place) == copy.version:
                return None
            return self._make_index(copy)

    def _make_index(self, copy: _Copy) -> KeyIndex | None:
        table = self._cursor.execute(f"SELECT * FROM {self._name(copy.ref)} "
                                     f"ORDER BY {copy.ref.key_columns}").to_arrow_table()
        if table.nbytes > self.index_bytes:
            self._too_big[copy.ref.place] = copy.version  # not at this snapshot again
            return None
        index = KeyIndex(table, copy.ref.key, copy.version)
        self._indexes[copy.ref.place] = index
        while sum(i.nbytes for i in self._indexes.values()) > self.index_bytes:
            self._indexes.popitem(last=False)
        return self._indexes.get(copy.ref.place)

    def _update_index(self, copy: _Copy, touched: object) -> None:
        """Bring a copy's index to the copy's snapshot: the rows of the touched first-key values."""
        index = self._indexes.get(copy.ref.place)
        if index is None:
            return
        first = copy.ref.key[0]
        values = touched.column(first).unique()  # type: ignore[attr-defined]
        if len(index.overlay) + len(values) > max(1_000, len(index.ranges) // 10):
            self._indexes.pop(copy.ref.place)  # rebuilt on a later lookup
            return
        self._cursor.register("labdata_touched_values", pa.table({first: values}))
        try:
            rows = self._cursor.execute(
                f'SELECT * FROM {self._name(copy.ref)} WHERE "{first}" IN '
                f'(SELECT "{first}" FROM labdata_touched_values) ORDER BY {copy.ref.key_columns}').to_arrow_table()
        finally:
            self._cursor.unregister("labdata_touched_values")
        index.update(values.to_pylist(), rows, copy.version)
