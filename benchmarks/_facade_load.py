"""``facade.py`` part b): many clients at once, each mixing point queries and scans, checked against direct DuckDB.

Not a script.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

POINT = "SELECT * FROM bench_row WHERE item_id = %s"
SCAN = ("SELECT subject, count(*) AS n, sum(value) AS total FROM bench_row WHERE item_id < %s GROUP BY subject "
        "ORDER BY subject")
SCAN_LIMITS = (1000, 20_000, 100_000)

__all__ = ["Load", "expected_answers", "run_load"]


def expected_answers(root: Path, rows: int, sample: int = 200) -> dict[tuple[str, int], Any]:
    """The answers direct DuckDB gives on the lake: ``("point", id)`` rows and ``("scan", limit)`` aggregates."""
    from labdata.catalog import Lake

    ids = random.Random(2).sample(range(rows), min(sample, rows))
    answers: dict[tuple[str, int], Any] = {}
    with Lake("sqlite", root, read_only=True, replica=False) as lake:
        cursor, table = lake.open_cursor(), f"{lake.alias}.bench_user.bench_row"
        for item in ids:
            answers[("point", item)] = cursor.execute(POINT.replace("%s", "?").replace("bench_row", table),
                                                      [item]).fetchall()
        for limit in SCAN_LIMITS:
            answers[("scan", limit)] = cursor.execute(SCAN.replace("%s", "?").replace("bench_row", table),
                                                      [limit]).fetchall()
    return answers


@dataclass
class Load:
    """What the clients did: statements, errors (first few kept), answers that differ from direct DuckDB."""

    statements: int = 0
    points: int = 0
    scans: int = 0
    errors: list[str] = field(default_factory=list)
    mismatches: int = 0
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _same(got: Any, want: Any) -> bool:
    if len(got) != len(want):
        return False
    for a, b in zip(got, want, strict=True):
        for x, y in zip(a, b, strict=True):
            if isinstance(y, float) or isinstance(x, float):
                if abs(float(x) - float(y)) > 1e-6 * max(1.0, abs(float(y))):
                    return False
            elif x != y:
                return False
    return True


def _client(connect: Callable[[], Any], answers: dict[tuple[str, int], Any], until: float, seed: int,
            load: Load) -> None:
    keys, rng = list(answers), random.Random(seed)
    done = points = scans = mismatches = 0
    errors: list[str] = []
    try:
        connection = connect()
    except Exception as error:  # a refused connection is an error of the run, reported
        with load.lock:
            load.errors.append(f"connect: {error}")
        return
    with connection.cursor() as cursor:
        while time.monotonic() < until:
            kind, value = rng.choice(keys) if rng.random() < 0.9 else ("scan", rng.choice(SCAN_LIMITS))
            try:
                cursor.execute(POINT if kind == "point" else SCAN, (value,))
                got = cursor.fetchall()
            except Exception as error:
                errors.append(f"{kind} {value}: {error}")
                continue
            done, points, scans = done + 1, points + (kind == "point"), scans + (kind == "scan")
            mismatches += not _same(got, answers[(kind, value)])
    connection.close()
    with load.lock:
        load.statements += done
        load.points += points
        load.scans += scans
        load.mismatches += mismatches
        load.errors.extend(errors[:3])


def run_load(connect: Callable[[], Any], answers: dict[tuple[str, int], Any], clients: int, seconds: float) -> Load:
    """``clients`` threads, each with its own connection, for ``seconds``: nine point queries to one scan."""
    load = Load()
    until = time.monotonic() + seconds
    threads = [threading.Thread(target=_client, args=(connect, answers, until, seed, load)) for seed in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    load.seconds = time.perf_counter() - start
    return load
