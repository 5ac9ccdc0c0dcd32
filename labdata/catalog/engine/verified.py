"""Primary keys known to exist, so inserts can skip reading tables.

Reading a table costs a DuckLake catalog scan (about 10 ms on a SQLite
catalog): a reference check reads the parent table, a duplicate check the
target. Rows are usually inserted one after another into the same tables (the
sessions of a subject, the datasets of a session), so the lake remembers

* keys it has seen exist: keys it inserted and parent keys it checked; and
* for small tables, the *complete* set of keys, read once, so that a new key
  is known to be absent without reading the table again.

The memory is only trusted while nobody else has written: it is tied to the
snapshot id this lake's own last commit made, and compared with the snapshot a
new write transaction starts from. Any other commit, any delete, a rolled-back
transaction, or a write the lake cannot see (raw SQL inside a transaction)
makes it forget everything.

That is safe because writers are serialised: on a SQLite catalog every writer
holds the lake's file lock, and on PostgreSQL every write transaction updates
the guard row (see :mod:`labdata.catalog.engine`), so a commit by anyone after
our transaction began makes ours conflict, and the retry starts afresh. The
recorded id (our base snapshot plus one when we wrote) can only be lower than
the real one, never higher, so a surprise only ever makes the lake forget.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

__all__ = ["COMPLETE_LIMIT", "KnownKeysMixin", "VerifiedKeys"]

MAX_KEYS = 500_000
COMPLETE_LIMIT = 100_000  # tables with more keys are never loaded whole


class VerifiedKeys:
    """Keys per table known to exist as of one snapshot of the catalog."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshot: int | None = None
        self._keys: dict[str, set[tuple[Any, ...]]] = {}
        self._complete: set[str] = set()

    def validate(self, latest_snapshot: int) -> None:
        """Forget everything unless ``latest_snapshot`` is the one recorded after our last commit."""
        with self._lock:
            if latest_snapshot != self._snapshot:
                self._keys.clear()
                self._complete.clear()
                self._snapshot = latest_snapshot

    def contains_all(self, table: str, keys: Iterable[tuple[Any, ...]]) -> bool:
        """Whether every key is known to exist in ``table``."""
        with self._lock:
            known = self._keys.get(table)
            return known is not None and all(key in known for key in keys)

    def complete_keys(self, table: str) -> set[tuple[Any, ...]] | None:
        """Every key of ``table`` if known (a copy), else None."""
        with self._lock:
            return set(self._keys.get(table, ())) if table in self._complete else None

    def committed(self, latest_snapshot: int, found: dict[str, set[tuple[Any, ...]]],
                  complete: dict[str, set[tuple[Any, ...]]]) -> None:
        """Record what a committed transaction proved, as of the snapshot it created."""
        with self._lock:
            if sum(len(keys) for keys in self._keys.values()) > MAX_KEYS:
                self._keys.clear()
                self._complete.clear()
            for table, keys in complete.items():
                self._keys[table] = set(keys)
                self._complete.add(table)
            for table, keys in found.items():
                self._keys.setdefault(table, set()).update(keys)
            self._snapshot = latest_snapshot

    def forget(self) -> None:
        """Forget every key (after a delete, or when a transaction fails)."""
        with self._lock:
            self._keys.clear()
            self._complete.clear()
            self._snapshot = None


class KnownKeysMixin:
    """The write-transaction side of :class:`VerifiedKeys`, mixed into ``Lake``.

    Expects ``kind``, ``catalog_file``, ``in_transaction``, ``verified`` and a
    thread-local ``_local`` with ``found``, ``complete`` and ``validated``.
    """

    if TYPE_CHECKING:  # what Lake provides
        _local: threading.local
        verified: VerifiedKeys
        alias: str

        @property
        def in_transaction(self) -> bool: ...

        def cursor(self) -> Any: ...

    def _tracking(self) -> bool:
        return self.in_transaction and self._local.found is not None

    def _validated(self) -> bool:
        if not self._tracking():
            return False
        if not self._local.validated:
            self._local.base_snapshot = self._transaction_snapshot()
            self.verified.validate(self._local.base_snapshot)
            self._local.validated = True
        return True

    def remembers_keys(self) -> bool:
        """Whether this write transaction can use and record known keys."""
        return self._validated()

    def knows(self, table: str, keys: set[tuple[Any, ...]]) -> bool:
        """Whether every key is known to exist in ``table`` (inside a write transaction only)."""
        return self._validated() and self.verified.contains_all(table, keys)

    def complete_keys(self, table: str) -> set[tuple[Any, ...]] | None:
        """Every key of ``table`` as this transaction sees it, when known; else None."""
        if not self._validated():
            return None
        known = self._local.complete.get(table)
        if known is None:
            known = self.verified.complete_keys(table)
            if known is not None:
                known |= self._local.found.get(table, set())
        return known

    def remember(self, table: str, keys: set[tuple[Any, ...]], *, complete: bool = False) -> None:
        """Note keys this transaction proved to exist (``complete``: all of the table's keys)."""
        if self._tracking():
            target = self._local.complete if complete else self._local.found
            target.setdefault(table, set()).update(keys)
            if not complete and table in self._local.complete:
                self._local.complete[table].update(keys)

    def forget_keys(self) -> None:
        """Forget every known key, now and for this transaction (deletes and raw writes call this)."""
        self.verified.forget()
        if self.in_transaction:
            self._local.found = None

    def note_rows_written(self) -> None:
        """Tell the lake this transaction changed rows (so its commit makes a snapshot)."""
        if self.in_transaction:
            self._local.wrote = True

    def _record_found_keys(self) -> None:
        """After commit, under the write lock: remember the keys as of the snapshot just made.

        Snapshot ids rise by one per commit and no one else commits while the lock
        is held, so the new snapshot is the transaction's plus one when it wrote rows.
        Writes the lake was not told about only make the recorded id too low, which
        makes the next write forget (never trust) what it knew.
        """
        if self._local.found is not None and self._local.validated:
            base = self._local.base_snapshot
            self.verified.committed(base + 1 if self._local.wrote else base, self._local.found,
                                    self._local.complete)

    def _transaction_snapshot(self) -> int:
        """The snapshot this write transaction reads (cached by DuckLake: about 0.3 ms).

        (Never read the catalog file with Python's sqlite3 while DuckDB has it open in
        this process: closing that second handle drops every POSIX lock the process
        holds on the file, DuckDB's included, and a concurrent writer could corrupt it.)
        """
        return int(self.cursor().execute(f"SELECT * FROM {self.alias}.current_snapshot()").fetchone()[0])
