"""The catalog keeper: a process holding an embedded catalog's SQLite file open while populate workers write."""

from __future__ import annotations

import os
import time

from labdata.catalog.engine.keeper import catalog_kept_open


def _holds(pid: int, path: str) -> bool:
    folder = f"/proc/{pid}/fd"
    return any(os.readlink(os.path.join(folder, fd)).startswith(path) for fd in os.listdir(folder))


def test_the_keeper_holds_the_catalog_open_and_ends_with_the_block(sqlite_lake) -> None:
    len(sqlite_lake.tables("main"))  # the catalog file exists
    with catalog_kept_open(sqlite_lake) as pid:
        assert pid is not None and _holds(pid, str(sqlite_lake.catalog_file))
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{pid}"), "the keeper outlived its block"


def test_a_postgres_or_read_only_lake_needs_no_keeper(sqlite_lake) -> None:
    from labdata.catalog import Lake

    len(sqlite_lake.tables("main"))
    reader = Lake("sqlite", sqlite_lake.root, read_only=True)
    with catalog_kept_open(reader) as pid:
        assert pid is None
    reader.close()
