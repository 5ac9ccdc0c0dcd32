"""Keeping an embedded catalog's SQLite file open while several processes write to it in turn.

DuckDB's SQLite extension opens a new SQLite connection for every transaction and closes it after. When
the connection that closes is the last one open on the file anywhere, SQLite checkpoints, deletes the WAL
and resets its index; the next process to open the file must then rebuild the index under the WAL write
lock, and a process opening it meanwhile retries and sleeps. DuckDB's SQLite is built without ``usleep``, so
that sleep lasts a whole second: populate workers on one embedded lake measured one to six such seconds
per run (``benchmarks/compute.py``; ``strace`` shows ``clock_nanosleep({tv_sec=1})``).

:func:`catalog_kept_open` holds one more connection open, idle and outside any transaction, in a small
process of its own (a second SQLite library inside this process would lose its locks whenever DuckDB's
closes a descriptor of the same file: POSIX locks belong to the process). No close is then ever the last,
so no reset happens. The keeper exits with the block, or when this process dies.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from labdata.catalog.engine.lake import Lake

__all__ = ["catalog_kept_open"]

_KEEPER = """
import os, sqlite3, sys, time
parent = int(sys.argv[2])
connection = sqlite3.connect(sys.argv[1], timeout=60)
connection.execute("SELECT count(*) FROM sqlite_master").fetchall()
print("open", flush=True)
while os.getppid() == parent:
    time.sleep(0.2)
"""


@contextlib.contextmanager
def catalog_kept_open(lake: Lake) -> Iterator[int | None]:
    """Keep ``lake``'s SQLite catalog open in a keeper process inside the block; yields its pid (None otherwise).

    Does nothing for a PostgreSQL catalog, a read-only lake, or a catalog file not created yet.
    """
    if lake.kind != "sqlite" or lake.read_only or not lake.catalog_file.exists():
        yield None
        return
    keeper = subprocess.Popen([sys.executable, "-c", _KEEPER, str(lake.catalog_file), str(os.getpid())],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert keeper.stdout is not None
        keeper.stdout.readline()  # the connection is open (or the keeper failed: the block runs without it)
        yield keeper.pid
    finally:
        keeper.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            keeper.wait(timeout=5)
        if keeper.stdout is not None:
            keeper.stdout.close()
