"""Primary keys known to exist, so inserts can skip reading parent tables.

Reading a table costs a DuckLake catalog scan (about 10 ms on a SQLite
catalog), and a reference check reads the parent table. Children of the same
parents are inserted one after another (the sessions of a subject, the
datasets of a session), so the lake remembers the keys it has seen exist: the
keys it inserted and the parent keys it checked.

The memory is only trusted while nobody else has written: it is tied to the
catalog's latest snapshot id, recorded right after this lake's own commit
while it still holds the write lock, and compared with the latest snapshot id
at the start of the next write (also under the lock). Any other commit, any
delete, or a rolled-back transaction makes it forget everything. It is used
only on SQLite catalogs, where every writer holds the lake's file lock; on
PostgreSQL another machine may commit at any time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

__all__ = ["VerifiedKeys"]

MAX_KEYS = 200_000


class VerifiedKeys:
    """Keys per table known to exist as of one snapshot of the catalog."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshot: int | None = None
        self._keys: dict[str, set[tuple[Any, ...]]] = {}

    def validate(self, latest_snapshot: int) -> None:
        """Forget everything unless ``latest_snapshot`` is the one recorded after our last commit."""
        with self._lock:
            if latest_snapshot != self._snapshot:
                self._keys.clear()
                self._snapshot = latest_snapshot

    def contains_all(self, table: str, keys: Iterable[tuple[Any, ...]]) -> bool:
        """Whether every key is known to exist in ``table``."""
        with self._lock:
            known = self._keys.get(table)
            return known is not None and all(key in known for key in keys)

    def committed(self, latest_snapshot: int, found: dict[str, set[tuple[Any, ...]]]) -> None:
        """Record the keys a committed transaction proved to exist, as of its snapshot."""
        with self._lock:
            if sum(len(keys) for keys in self._keys.values()) > MAX_KEYS:
                self._keys.clear()
            for table, keys in found.items():
                self._keys.setdefault(table, set()).update(keys)
            self._snapshot = latest_snapshot

    def forget(self) -> None:
        """Forget every key (after a delete, or when a transaction fails)."""
        with self._lock:
            self._keys.clear()
            self._snapshot = None
