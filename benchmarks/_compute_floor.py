"""The catalog's floor under ``compute.py``'s populate: what the fewest transactions a 2-worker populate needs cost.

A populate by ``w`` workers that reserve keys cannot take less than: one read of the keys still to make, per
worker at least two write transactions (reserve a batch, commit its rows with the release of the reservations),
which the catalog runs one at a time (a DuckLake commit is serialised: a file lock on SQLite, the guard row on
PostgreSQL), and each worker's share of the makes themselves (perfect parallelism, no other overhead).
:func:`floor_rows` times those on a fresh lake of the same tables (median of 15) and prints the lower bound
next to the budget that ``>= 5x DataJoint`` leaves (DataJoint's seconds inside populate / 5).

Not a script.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

__all__ = ["floor_rows", "measure_floor"]


def _median_ms(work: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def floor_rows(context: Any, keys: int, workers: int, dj_seconds: float | None,
               repeat: int = 15) -> list[list[str]]:
    """Rows: a key-list read, a reservation transaction, a commit transaction, and the bound they add up to."""
    from _compute_tables import BenchItem, BenchSquare
    from labdata.catalog.ops.ddl import ensure_schemas
    from labdata.catalog.populate.jobs import JobTable, job_registry

    ensure_schemas(context, job_registry)
    square, jobs = BenchSquare(context), JobTable("bench_floor", context)
    key_list = _median_ms(lambda: (BenchItem(context) - square.proj()).fetch("KEY"), repeat)
    counter = iter(range(10**6))

    def reserve() -> None:
        jobs.reserve_many([{"item_id": 10**6 + next(counter)}])

    reserve_ms = _median_ms(reserve, repeat)

    def commit() -> None:
        key = {"item_id": next(counter) % 10**3}

        def work() -> None:
            (square.proj() & key).fetch("KEY")
            jobs.release_many([key])

        context.lake.run(work)

    commit_ms = _median_ms(commit, repeat)
    make_ms = _make_ms(square, keys)
    bound = key_list + workers * (reserve_ms + commit_ms) + make_ms * keys / workers
    budget = f"{1000 * dj_seconds / 5:.0f}" if dj_seconds else "n/a"
    return [["read the keys to make (outside a transaction)", f"{key_list:.0f}", "1", ""],
            ["reserve a batch (read job rows + insert + commit)", f"{reserve_ms:.0f}", str(workers), ""],
            ["commit a batch (read the table + delete job rows + commit)", f"{commit_ms:.0f}", str(workers), ""],
            ["one make (fetch1 + insert, deferred), per worker's share of keys", f"{make_ms:.2f}",
             f"{keys} / {workers}", ""],
            [f"lower bound of {workers} workers' populate, ms", f"{bound:.0f}", "",
             f"5x DataJoint leaves {budget} ms"]]


def _make_ms(square: Any, keys: int, sample: int = 200) -> float:
    """Milliseconds per deferred ``make`` (the work of one key in a batch, without the batch's commit)."""
    from labdata.catalog.engine.context import use
    from labdata.catalog.engine.deferred import DeferredWrites
    from labdata.catalog.ops.insert import making

    lake, buffer = square.context.lake, DeferredWrites()
    start = time.perf_counter()
    with making(type(square)), use(square.context):
        for item in range(min(sample, keys)):
            with lake.deferring(buffer):
                square.make({"item_id": item})
    return 1000 * (time.perf_counter() - start) / min(sample, keys)


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
