"""Part c) of ``facade.py``: what an analyst writes in Python, on the lake and through the facade (remote mode).

Not a script.
"""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

from _facade_tables import BenchRow
from _table import print_table
from labdata.catalog import Context, use

MEASURES = ("point: (BenchRow & {'item_id': k}).fetch1(), median ms",
            "LIKE: (BenchRow & 'label LIKE \"a%\"').fetch(as_dict=True), median ms",
            "aggregate: BenchRow.aggr-like count per subject via fetch(format='frame').groupby, median ms",
            "all rows: BenchRow.fetch(format='frame'), rows/s")


def measure(lake: Any, count: int, points: int, repeat: int) -> list[float]:
    """The four measures of :data:`MEASURES` on ``lake`` (a local Lake or a RemoteLake)."""
    ids = random.Random(2).sample(range(count), min(points, count))
    with use(Context(lake, "bench")):
        point = _median_ms(lambda k: (BenchRow & {"item_id": k}).fetch1(), ids)
        like = _median_ms(lambda _: (BenchRow & 'label LIKE "a%"').fetch(as_dict=True), range(repeat))
        grouped = _median_ms(lambda _: (BenchRow & 'label LIKE "a%"').fetch(format="frame").groupby("subject").size(),
                             range(repeat))
        start = time.perf_counter()
        rows = len(BenchRow.fetch(format="frame"))
        rate = rows / (time.perf_counter() - start)
    return [point, like, grouped, rate]


def _median_ms(work: Any, items: Any) -> float:
    found = []
    for item in items:
        start = time.perf_counter()
        work(item)
        found.append(1000 * (time.perf_counter() - start))
    return statistics.median(found)


def report(count: int, local: list[float], remote: list[float]) -> None:
    rows = []
    for name, here, there in zip(MEASURES, local, remote, strict=True):
        rate = name.endswith("rows/s")
        form = "{:,.0f}" if rate else "{:.2f}"
        ratio = here / there if rate else there / here
        rows.append([name, form.format(here), form.format(there), f"{ratio:.2f}x slower"])
    print_table(f"c) the Python API on {count} rows: on the lake (DuckDB in this process) and through the facade "
                "(labdata.connect('mysql://...'), one pymysql connection, results as Arrow)",
                ["what the analyst writes", "local lake", "remote mode", "remote cost"], rows)
