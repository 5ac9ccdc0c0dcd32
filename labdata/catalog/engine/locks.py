"""An exclusive lock on a file, held by one process (or thread) at a time.

Used around write transactions on an embedded (SQLite) catalog so that local
writers queue instead of conflicting. The lock is released by the kernel when
the holder dies, so a killed process never leaves the lake locked.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

__all__ = ["FileLock"]


class FileLock:
    """A re-entrant (per thread) exclusive ``flock`` on ``path``.

    Parameters
    ----------
    path : Path
        The lock file; created if missing.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()

    def __enter__(self) -> FileLock:
        depth = getattr(self._local, "depth", 0)
        if depth == 0:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            self._local.descriptor = descriptor
        self._local.depth = depth + 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._local.depth -= 1
        if self._local.depth == 0:
            descriptor = self._local.descriptor
            fcntl.flock(descriptor, fcntl.LOCK_UN)
            os.close(descriptor)
