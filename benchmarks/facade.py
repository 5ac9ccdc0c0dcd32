"""Benchmark: the MySQL-wire facade against MariaDB and direct DuckDB, on the same rows, side by side in one run.

A lab's own table of ``--rows`` rows (``_facade_tables.BenchRow``) in a fresh lake served by ``labdata serve``
(its own process, as in a lab), and the same rows in MariaDB (InnoDB, primary key). Both are queried with
pymysql, from this process:

* point queries: ``SELECT * FROM bench_row WHERE item_id = %s`` for random ids (median and 95th percentile);
* what the seeds write: ``LIKE`` with an aggregate (``... WHERE label LIKE 'a%' GROUP BY subject``);
* streaming: ``SELECT * FROM bench_row`` through an unbuffered cursor (rows/s).

Part c) runs what an analyst writes in Python (a point fetch1, a LIKE restriction, a grouped count, all rows) on
the lake in this process and through the facade in remote mode (``labdata.connect("mysql://...")``).

Direct DuckDB runs the same SQL on the lake as any DuckDB client does (``ATTACH 'ducklake:...'``). A last column
is mysql-mimic itself answering from memory (a constant row; for the scan as many rows from an async generator,
as a server that streams must): the floor of a MySQL server written in Python, whatever it serves.
Targets: point latency <= 1x MariaDB; streaming >= 100k rows/s and >= 1x MariaDB.

Run it from the repository root (the venv active; MariaDB on 127.0.0.1:3306, root, no password)::

    python benchmarks/facade.py             # 200,000 rows
    python benchmarks/facade.py --quick     # smoke test: 2,000 rows, fewer queries
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _dj_process  # noqa: E402
import _facade_remote  # noqa: E402
from _facade_load import expected_answers, run_load  # noqa: E402
from _table import machine, print_table  # noqa: E402

POINT = "SELECT * FROM bench_row WHERE item_id = %s"
SEEDS = "SELECT subject, count(*) AS n, avg(value) AS mean FROM bench_row WHERE label LIKE 'a%' GROUP BY subject"
SCAN = "SELECT * FROM bench_row"
MIMIC_FLOOR = """
import asyncio, sys
from mysql_mimic import MysqlServer, Session
ROWS = int(sys.argv[1])
class Constant(Session):
    async def query(self, expression, sql, attrs):
        if "WHERE" not in sql.upper():  # the scan: the rows streamed from an async generator, as a server must
            async def rows():
                for i in range(ROWS):
                    yield (i, "S001", 0.5, "alabel1")
            return rows(), ["item_id", "subject", "value", "label"]
        return [(1, "S001", 0.5, "alabel1")], ["item_id", "subject", "value", "label"]
async def main():
    server = MysqlServer(session_factory=Constant)
    await server.start_server(host="127.0.0.1", port=0)
    print(server._server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="rows in the table")
    parser.add_argument("--points", type=int, default=300, help="point queries per side")
    parser.add_argument("--repeat", type=int, default=15, help="LIKE + aggregate queries per side")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients in b)")
    parser.add_argument("--seconds", type=float, default=60, help="how long the clients of b) run")
    parser.add_argument("--quick", action="store_true", help="smoke test: 2,000 rows, 30 point queries, 8 clients 3 s")
    parser.add_argument("--mariadb-host", default="127.0.0.1")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.points, args.repeat, args.clients, args.seconds = 2000, 30, 3, 8, 3
    return args


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def build_lake(work: Path, count: int) -> tuple[Path, str]:
    """A lake with ``count`` rows in project ``bench``'s user schema, and the password of account ``bench``."""
    from _facade_tables import BenchRow, rows
    from labdata.catalog import Context, Lake, use
    from labdata.server import add_account

    root = work / "lake"
    with Lake("sqlite", root) as lake, use(Context(lake, "bench")):
        from labdata.schema import Session

        len(Session())  # the project's schemas
        BenchRow.insert(rows(count))
        lake.flush_inlined_data()
        return root, add_account(lake, "bench", ["bench"])


class Served:
    """``labdata serve`` on a free port, in its own process."""

    def __init__(self, root: Path, work: Path) -> None:
        environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
                           LABDATA_PATH=str(work / "home"))
        command = [sys.executable, "-m", "labdata.cli", "serve", "--path", str(root), "--port", "0",
                   "-i", "_facade_tables"]
        self.process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=environment)
        assert self.process.stderr is not None
        line = ""
        while "labdata facade on" not in line:
            line = self.process.stderr.readline()
            if not line and self.process.poll() is not None:
                raise RuntimeError("labdata serve exited before listening")
        self.port = int(re.search(r":(\d+) ", line).group(1))  # type: ignore[union-attr]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def timed_ms(work: Callable[[], Any], times: int) -> list[float]:
    found = []
    for _ in range(times):
        start = time.perf_counter()
        work()
        found.append(1000 * (time.perf_counter() - start))
    return found


def measure_mysql(connect: Callable[[], Any], args: argparse.Namespace, scan: bool = True) -> dict[str, float]:
    """Point, LIKE + aggregate and streaming numbers over one pymysql connection."""
    import pymysql

    ids = random.Random(1).sample(range(args.rows), min(args.points, args.rows))
    connection = connect()
    with connection.cursor() as cursor:
        def point(i: int = 0) -> None:
            cursor.execute(POINT, (ids[i % len(ids)],))
            cursor.fetchall()

        timed_ms(point, 20)  # warm: the first queries copy the table
        counter = iter(range(10**9))
        points = timed_ms(lambda: point(next(counter)), len(ids))
        seeds = timed_ms(lambda: (cursor.execute(SEEDS), cursor.fetchall()), args.repeat)
    result = {"point_median": statistics.median(points), "point_p95": statistics.quantiles(points, n=20)[-1],
              "seeds_median": statistics.median(seeds)}
    if scan:
        rates = []
        for _ in range(3):
            with connection.cursor(pymysql.cursors.SSCursor) as stream:
                start = time.perf_counter()
                stream.execute(SCAN)
                count = sum(1 for _ in stream)
                rates.append(count / (time.perf_counter() - start))
        result["rows_per_s"] = statistics.median(rates)
    connection.close()
    return result


def measure_duckdb(root: Path, args: argparse.Namespace) -> dict[str, float]:
    """The same SQL from a plain DuckDB client attached to the lake (as ``labdata views`` sets it up)."""
    from labdata.catalog import Lake

    with Lake("sqlite", root, read_only=True, replica=False) as lake:
        cursor = lake.open_cursor()
        table = f"{lake.alias}.bench_user.bench_row"
        ids = random.Random(1).sample(range(args.rows), min(args.points, args.rows))
        counter = iter(range(10**9))
        points = timed_ms(lambda: cursor.execute(POINT.replace("%s", "?").replace("bench_row", table),
                                                 [ids[next(counter) % len(ids)]]).fetchall(), len(ids))
        seeds = timed_ms(lambda: cursor.execute(SEEDS.replace("bench_row", table)).fetchall(), args.repeat)
        start = time.perf_counter()
        count = len(cursor.execute(SCAN.replace("bench_row", table)).fetchall())
        rate = count / (time.perf_counter() - start)
    return {"point_median": statistics.median(points), "point_p95": statistics.quantiles(points, n=20)[-1],
            "seeds_median": statistics.median(seeds), "rows_per_s": rate}


def mariadb_side(args: argparse.Namespace) -> tuple[dict[str, float] | None, str]:
    import pymysql

    from _facade_tables import MARIADB_TABLE, rows

    why = _dj_process.mariadb_reachable(args.mariadb_host)
    if why:
        return None, why
    database = f"labdata_bench_facade_{os.getpid()}"
    admin = pymysql.connect(host=args.mariadb_host, user="root", autocommit=True)
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {database}")
            cursor.execute(f"USE {database}")
            cursor.execute(MARIADB_TABLE)
            values = [tuple(r.values()) for r in rows(args.rows)]
            for start in range(0, len(values), 5000):
                cursor.executemany("INSERT INTO bench_row VALUES (%s, %s, %s, %s)", values[start:start + 5000])
        progress(f"MariaDB: {args.rows} rows")
        return measure_mysql(lambda: pymysql.connect(host=args.mariadb_host, user="root", database=database,
                                                     autocommit=True), args), ""
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {database}")
        admin.close()


def floor_side(args: argparse.Namespace) -> dict[str, float]:
    import pymysql

    server = subprocess.Popen([sys.executable, "-c", MIMIC_FLOOR, str(args.rows)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        return measure_mysql(lambda: pymysql.connect(host="127.0.0.1", port=port, user="any", autocommit=True), args)
    finally:
        server.terminate()
        server.wait(timeout=30)


def main(argv: list[str] | None = None) -> None:
    import pymysql

    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="labdata-bench-facade-"))
    os.environ["LABDATA_PATH"] = str(work / "home")
    try:
        progress(f"lake: {args.rows} rows")
        root, password = build_lake(work, args.rows)
        answers = expected_answers(root, args.rows)
        served = Served(root, work)
        try:
            def connect() -> Any:
                return pymysql.connect(host="127.0.0.1", port=served.port, user="bench", password=password,
                                       database="lab_data_bench_user", autocommit=True)

            progress("facade")
            facade = measure_mysql(connect, args)
            progress(f"b) {args.clients} clients for {args.seconds:.0f} s")
            load = run_load(connect, answers, args.clients, args.seconds)
            progress("c) the Python API, local and remote")
            python_sides = python_api(root, served.port, password, args)
        finally:
            served.stop()
        mariadb, why = mariadb_side(args)
        progress("direct DuckDB, mysql-mimic floor")
        duck, floor = measure_duckdb(root, args), floor_side(args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(args, facade, mariadb, why, duck, floor)
    report_load(args, load)
    _facade_remote.report(args.rows, *python_sides)


def python_api(root: Path, port: int, password: str, args: argparse.Namespace) -> tuple[list[float], list[float]]:
    """Part c): the same Python queries on the lake and through the facade."""
    from labdata.catalog import Lake
    from labdata.catalog.engine.remote import RemoteAddress, RemoteLake

    with Lake("sqlite", root, read_only=True) as lake:
        local = _facade_remote.measure(lake, args.rows, args.points, args.repeat)
    remote_lake = RemoteLake(RemoteAddress("127.0.0.1", port, "bench", password), root=root)
    try:
        remote = _facade_remote.measure(remote_lake, args.rows, args.points, args.repeat)
    finally:
        remote_lake.close()
    return local, remote


def report(args: argparse.Namespace, facade: dict[str, float], mariadb: dict[str, float] | None, why: str,
           duck: dict[str, float], floor: dict[str, float]) -> None:
    def cell(side: dict[str, float] | None, key: str, form: str) -> str:
        return form.format(side[key]) if side and key in side else "n/a"

    def ratio(key: str) -> str:
        return f"{facade[key] / mariadb[key]:.2f}x" if mariadb else "n/a"

    rows = [
        ["point query, median ms", cell(facade, "point_median", "{:.2f}"), cell(mariadb, "point_median", "{:.2f}"),
         ratio("point_median"), cell(duck, "point_median", "{:.2f}"), cell(floor, "point_median", "{:.2f}"),
         "<= 1x MariaDB"],
        ["point query, p95 ms", cell(facade, "point_p95", "{:.2f}"), cell(mariadb, "point_p95", "{:.2f}"),
         ratio("point_p95"), cell(duck, "point_p95", "{:.2f}"), cell(floor, "point_p95", "{:.2f}"), ""],
        ["LIKE + GROUP BY, median ms", cell(facade, "seeds_median", "{:.2f}"), cell(mariadb, "seeds_median", "{:.2f}"),
         ratio("seeds_median"), cell(duck, "seeds_median", "{:.2f}"), cell(floor, "seeds_median", "{:.2f}"), ""],
        [f"stream {args.rows} rows, rows/s", cell(facade, "rows_per_s", "{:,.0f}"),
         cell(mariadb, "rows_per_s", "{:,.0f}"), f"{facade['rows_per_s'] / mariadb['rows_per_s']:.2f}x" if mariadb
         else "n/a", cell(duck, "rows_per_s", "{:,.0f}"), cell(floor, "rows_per_s", "{:,.0f}"),
         ">= 100k/s and >= 1x MariaDB"],
    ]
    print_table(f"a) facade: pymysql against labdata serve and MariaDB ({why or 'InnoDB'}), the same {args.rows} rows",
                ["measure", "facade", "MariaDB", "facade/MariaDB", "direct DuckDB", "mysql-mimic floor", "target"],
                rows)
    print(machine())
    print(json.dumps({"facade": facade, "mariadb": mariadb, "duckdb": duck, "floor": floor}))


def report_load(args: argparse.Namespace, load: Any) -> None:
    rows = [[f"{args.clients} clients x {load.seconds:.0f} s", f"{load.statements:,}", f"{load.points:,}",
             f"{load.scans:,}", f"{load.statements / load.seconds:,.0f}", str(len(load.errors)), str(load.mismatches)]]
    print_table("b) concurrent clients: 9 point queries to 1 aggregate scan each, answers compared with direct DuckDB",
                ["run", "statements", "points", "scans", "statements/s", "errors", "answers differing"], rows)
    for error in load.errors[:5]:
        print(f"  error: {error}")


if __name__ == "__main__":
    main()
