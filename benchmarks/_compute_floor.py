"""The catalog's floor under ``compute.py``'s populate: what the fewest transactions a 2-worker populate needs cost.

A populate by ``w`` workers that reserve keys cannot take less than: one read of the keys still to make and, per
worker, two write transactions carrying its share of the keys (reserve them: read their job rows, insert as
many job rows; commit them: insert as many result rows, delete the job rows), which the catalog runs one at a
time (a DuckLake commit is serialised: a file lock on SQLite, the guard row on PostgreSQL). Those are timed
here with the rows they carry, through the same calls populate makes (``JobTable.reserve_many``, a checked
insert and ``JobTable.release_many`` in one transaction), median of ``repeat``, on a fresh lake of the same
tables, one transaction at a time (no waiting for another worker).

That bound assumes each worker knew its whole share at once. A populate cannot: a make may take an hour, so a
worker reserves one key first and sizes its next batch from that make's time (DataJoint reserves one key at a
time throughout). The second bound adds that first, one-key reservation and commit per worker. Neither counts
the makes themselves, which run while the other worker commits.

Not a script.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable
from typing import Any

__all__ = ["floor_rows", "measure_floor"]


def _median_ms(work: Callable[[], Any], repeat: int, reset: Callable[[], Any] = lambda: None) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
        reset()
    return 1000 * statistics.median(times)


class _Share:
    """Reserves and commits one worker's share of the keys, as populate's transactions do, on fresh job tables."""

    def __init__(self, context: Any, keys: list[dict[str, Any]]) -> None:
        from _compute_tables import BenchSquare

        self.context, self.keys, self.square = context, keys, BenchSquare(context)
        self.names = (f"bench_floor_{i}" for i in itertools.count())
        self.jobs: Any = None

    def reserve(self) -> None:
        """One transaction: the job rows of the share read, as many inserted."""
        from labdata.catalog.populate.jobs import JobTable

        self.jobs = JobTable(next(self.names), self.context)
        reserved, _ = self.jobs.reserve_many(self.keys, len(self.keys), lambda keys: set())
        assert len(reserved) == len(self.keys)

    def commit(self) -> None:
        """One transaction: the share's rows inserted (checked), its job rows deleted."""
        rows = [dict(key, square=key["item_id"] ** 2) for key in self.keys]

        def work() -> None:
            self.square.insert(rows, allow_direct_insert=True)
            self.jobs.release_many(self.keys)

        self.context.lake.run(work)

    def remove_rows(self) -> None:
        """Delete the share's rows again, so that the next commit inserts the same rows."""
        (self.square & self.keys).delete_quick()


def _raw_share_ms(context: Any, keys: list[dict[str, Any]], repeat: int) -> tuple[float, float]:
    """The same two transactions in plain SQL on the lake (no Python per row): what DuckLake itself costs.

    Reserve: read the share's job rows, insert as many. Commit: check the rows' parents and duplicates, insert
    them, delete the job rows. The rows arrive as Arrow tables, as labdata's statements receive them.
    """
    import pyarrow as pa

    from _compute_tables import BenchItem, BenchSquare
    from labdata.catalog.populate.jobs import PopulateJob, key_hash

    lake = context.lake

    def name(table: Any) -> str:
        schema = table.table_schema()
        return context.qualified(schema.tier_group, schema.sql_name)

    jobs, item, square = name(PopulateJob), name(BenchItem), name(BenchSquare)
    hashes = pa.table({"key_hash": [key_hash(key) for key in keys]})
    rows = pa.table({"item_id": [key["item_id"] for key in keys], "square": [key["item_id"] ** 2 for key in keys],
                     "key_hash": hashes["key_hash"], "key_json": [f'{{"item_id": {k["item_id"]}}}' for k in keys]})
    names = (f"raw_floor_{i}" for i in itertools.count())
    table_name = [""]

    def reserve() -> None:
        table_name[0] = next(names)
        with lake.transaction():
            lake.execute(f"SELECT key_hash, status, host, pid FROM {jobs} WHERE table_name = $t AND key_hash IN "
                         "(SELECT key_hash FROM raw_hashes)", {"t": table_name[0], "raw_hashes": hashes}).fetchall()
            lake.execute(f"INSERT INTO {jobs} (table_name, key_hash, status, key_json, host, pid, job_user) "
                         "SELECT $t, key_hash, 'reserved', key_json, 'host', 1, 'user' FROM raw_rows",
                         {"t": table_name[0], "raw_rows": rows})

    def commit() -> None:
        with lake.transaction():
            lake.execute(f"SELECT count(*) FROM raw_rows r WHERE NOT EXISTS (SELECT 1 FROM {item} p "
                         "WHERE p.item_id = r.item_id)", {"raw_rows": rows}).fetchall()
            lake.execute(f"SELECT count(*) FROM {square} s SEMI JOIN raw_rows r USING (item_id)",
                         {"raw_rows": rows}).fetchall()
            lake.execute(f"INSERT INTO {square} SELECT item_id, square FROM raw_rows", {"raw_rows": rows})
            lake.execute(f"DELETE FROM {jobs} WHERE table_name = $t AND key_hash IN (SELECT key_hash FROM raw_hashes)",
                         {"t": table_name[0], "raw_hashes": hashes})

    def remove_rows() -> None:
        with lake.transaction():
            lake.execute(f"DELETE FROM {square} WHERE item_id IN (SELECT item_id FROM raw_rows)", {"raw_rows": rows})

    reserve_ms = _median_ms(reserve, repeat)
    both_ms = _median_ms(lambda: (reserve(), commit()), repeat, remove_rows)
    return reserve_ms, both_ms - reserve_ms


def floor_rows(context: Any, keys: int, workers: int, dj_seconds: float | None,
               repeat: int = 7) -> list[list[str]]:
    """Rows: the key-list read, each worker's reserve and commit of its share and of one key, and the bounds."""
    from _compute_tables import BenchItem, BenchSquare
    from labdata.catalog.ops.ddl import ensure_schemas
    from labdata.catalog.populate.jobs import job_registry

    ensure_schemas(context, job_registry)
    key_list = _median_ms(lambda: (BenchItem(context) - BenchSquare(context).proj()).fetch("KEY"), repeat)
    all_keys = [{"item_id": i} for i in range(keys)]
    share, one = _Share(context, all_keys[:keys // workers]), _Share(context, all_keys[-1:])
    costs = {}
    for name, part in (("share", share), ("one", one)):
        costs[name] = (_median_ms(part.reserve, repeat),
                       _median_ms(lambda part=part: (part.reserve(), part.commit()), repeat, part.remove_rows))
        costs[name] = (costs[name][0], costs[name][1] - costs[name][0])  # the commit alone
    raw = {"share": _raw_share_ms(context, share.keys, repeat), "one": _raw_share_ms(context, one.keys, repeat)}
    bound = key_list + workers * sum(costs["share"])
    probed = bound + workers * sum(costs["one"])
    raw_probed = key_list + workers * (sum(raw["share"]) + sum(raw["one"]))
    budget = 1000 * dj_seconds / 5 if dj_seconds else None

    def against(ms: float) -> str:
        return f"{ms / budget:.2f}x the budget" if budget else ""

    return [["read the keys to make (outside a transaction)", f"{key_list:.0f}", "1", ""],
            [f"reserve a share: read {keys // workers} job rows, insert them, commit", f"{costs['share'][0]:.0f}",
             str(workers), ""],
            [f"commit a share: insert {keys // workers} rows (checked), delete their job rows, commit",
             f"{costs['share'][1]:.0f}", str(workers), ""],
            ["reserve one key, commit it (a worker's first batch)", f"{sum(costs['one']):.0f}", str(workers), ""],
            [f"lower bound: {workers} workers, each its whole share in one batch", f"{bound:.0f}", "",
             against(bound)],
            ["lower bound with a first batch of one key per worker", f"{probed:.0f}", "", against(probed)],
            [f"the same in plain SQL (no checks in Python): reserve {keys // workers} / commit them / one key",
             f"{raw['share'][0]:.0f} / {raw['share'][1]:.0f} / {sum(raw['one']):.0f}", str(workers), ""],
            ["lower bound in plain SQL, with a first batch of one key per worker", f"{raw_probed:.0f}", "",
             against(raw_probed)],
            ["5x DataJoint's time inside populate (the budget)", f"{budget:.0f}" if budget else "n/a", "", ""]]


def measure_floor(lab_class: Any, work: Any, keys: int, workers: int, dj_seconds: float | None) -> list[list[str]]:
    """:func:`floor_rows` on a fresh SQLite lake (``lab_class`` is ``compute.Lab``) holding ``keys`` items."""
    from _compute_tables import BenchItem, BenchSquare

    (work / "floor").mkdir(exist_ok=True)
    lab = lab_class(work / "floor")
    try:
        BenchItem(lab.context).insert([dict(item_id=i, value=i) for i in range(keys)])
        len(BenchSquare(lab.context))
        return floor_rows(lab.context, keys, workers, dj_seconds)
    finally:
        lab.close()
