"""Who made each commit and what made it: DuckLake's commit author and message, on every write transaction.

Every commit the lake makes carries an author and a message (``lake.snapshots()`` shows them; ``labdata
history`` shows them per row). By default the author is the operating-system user (``LABDATA_USER`` overrides
it) and the message the command that runs (``labdata put ...``, ``labdata task 12``, ``analysis.py``); a surface
acting for someone else says so around its writes::

    with lake.noting("alice", "facade: INSERT INTO subject ..."):
        Subject.insert1(row)

(the facade notes its account and statement; notes nest, the innermost wins, per thread).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

__all__ = ["CommitNotesMixin", "default_note"]

MAX_MESSAGE = 500


def default_note() -> tuple[str, str]:
    """The author and message of a commit nobody noted: the user, and the command line of this process."""
    try:
        author = os.environ.get("LABDATA_USER") or getpass.getuser()
    except (KeyError, OSError):  # no user name (a container without /etc/passwd entry)
        author = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    program = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
    return author, " ".join([program, *sys.argv[1:]])[:MAX_MESSAGE]


class CommitNotesMixin:
    """The commit-note side of ``Lake``: :meth:`noting` and the note written before each commit."""

    if TYPE_CHECKING:
        _local: threading.local
        alias: str

    @contextlib.contextmanager
    def noting(self, author: str, message: str) -> Iterator[None]:
        """Record ``author`` and ``message`` on the commits this thread makes inside the block."""
        previous = getattr(self._local, "note", None)
        self._local.note = (author, message[:MAX_MESSAGE])
        try:
            yield
        finally:
            self._local.note = previous

    def _write_commit_note(self, cursor: Any) -> None:
        """Set the open transaction's commit author and message (a local call: no catalog round trip)."""
        author, message = getattr(self._local, "note", None) or default_note()
        cursor.execute(f"CALL {self.alias}.set_commit_message(?, ?)", [author, message])
