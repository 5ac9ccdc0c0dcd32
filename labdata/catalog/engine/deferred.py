"""Writes held back until a batch commits: what lets populate make many cheap keys per transaction.

Populate runs each ``make`` with its inserts *deferred* (:meth:`Lake.deferring`): the make's reads go
to the latest committed snapshot (the read replica, outside any write transaction), its inserts are
checked and coerced at once but kept in a :class:`DeferredWrites` buffer, and populate commits the
buffered rows of many keys, with the release of their reservations, in one write transaction.

A make that needs a transaction of its own cannot be deferred: one that reads a table it has written
(it would not see its own rows), or that writes other than by insert (a delete, an update, a raw
statement, a nested transaction). The lake then raises :class:`NeedsTransaction`, and populate
discards what that make buffered and makes the key again the plain way, in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DeferredWrites", "NeedsTransaction"]


class NeedsTransaction(BaseException):
    """A deferred make did what only a write transaction allows; populate makes the key again in one.

    A ``BaseException``, so that a make's own ``except Exception`` does not swallow it (and should one
    catch it anyway, :attr:`DeferredWrites.poisoned` still sends the key to a transaction).
    """


@dataclass
class DeferredWrites:
    """Inserts buffered by deferred makes, in the order they were made, with the tables they touch.

    ``entries`` hold ``(tag, place, write)``: the key being made, the ``(schema, table)`` written and
    what the insert layer needs to write the rows later.
    """

    entries: list[tuple[Any, tuple[str, str], Any]] = field(default_factory=list)
    poisoned: bool = False
    tag: Any = None
    #: whether the batch has read the catalog's latest snapshot; its later reads stay at that snapshot
    snapshot_read: bool = False

    def add(self, place: tuple[str, str], write: Any) -> None:
        """Buffer one insert into ``place`` for the key being made."""
        self.entries.append((self.tag, place, write))

    def begin(self, tag: Any) -> int:
        """Start buffering the writes of the key ``tag``; returns a mark for :meth:`discard_from`."""
        self.tag, self.poisoned = tag, False
        return len(self.entries)

    def discard_from(self, mark: int) -> None:
        """Forget what was buffered since ``mark`` (a make that failed or needs a transaction)."""
        del self.entries[mark:]
        self.poisoned = False

    def refuse(self, reason: str) -> NeedsTransaction:
        """Mark the current make as one that needs a transaction; return the signal to raise."""
        self.poisoned = True
        return NeedsTransaction(reason)

    def touches(self, places: Iterable[tuple[str, str]]) -> bool:
        """Whether any of ``places`` has buffered rows (a read of it would miss them)."""
        written = {place for _, place, _ in self.entries}
        return any(place in written for place in places)

    def writes_of(self, tags: Iterable[Any]) -> list[Any]:
        """The buffered writes of the keys ``tags``, in the order they were made."""
        wanted = set(tags)
        return [write for tag, _, write in self.entries if tag in wanted]
