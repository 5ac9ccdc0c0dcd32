"""Benchmark: the compute queue's dispatch overhead per task on each runner, and populate's throughput.

Side by side in one run:

a) dispatch overhead: ``--tasks`` no-op tasks (``_compute_tables.NoOp``, the ``noop`` analysis of the
   ``compute.analysis`` preference) submitted at once and waited until all are COMPLETED, on each runner
   (``local`` with 2 processes, ``slurm``, ``dask`` when its runner exists), wall time / tasks; against the
   bare scheduler running the same number of processes: ``subprocess.run`` (2 at a time), ``sbatch --wrap``
   polled with ``squeue`` at the same interval as labdata's queue, ``client.submit`` on the same Dask
   cluster. Two bare jobs each: ``python -c pass`` (the scheduler alone) and a Python process that imports
   labdata, opens the same lake and reads the queue (``_compute_tables.open_lake_and_read``): the same work as
   a no-op task without the queue, which is the fair baseline (a task has to reach the catalog to record its
   claim and outcome). Target: <= 1.5x the bare scheduler.
b) throughput: ``--keys`` cheap keys (make reads one row and inserts one) populated by 2 workers:
   ``submit("populate", target="local", workers=2)`` on an embedded (SQLite) lake and on PostgreSQL,
   against DataJoint 0.14: 2 processes each calling ``populate(reserve_jobs=True)`` on MariaDB; keys/s from
   the start of the workers to the end of the last, and inside ``populate()`` (each worker logs its time; the
   slowest counts), on both sides. Target: >= 5x DataJoint inside populate (a worker's start, importing and
   connecting, is part a's dispatch overhead).

Run it from the repository root (the venv active)::

    python benchmarks/compute.py                 # 20 tasks per runner, 1,000 keys
    python benchmarks/compute.py --quick --no-dj # smoke test: 2 tasks, 20 keys

The DataJoint side needs ``datajoint<2`` in ``--dj-python`` (default ``/tmp/djvenv/bin/python``) and MariaDB
on 127.0.0.1:3306 (root, no password); without them its row says why. Progress goes to stderr, tables to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _dj_process  # noqa: E402
from _compute_floor import measure_floor  # noqa: E402
from _table import machine, print_table  # noqa: E402

PG_DSN = "dbname=test host=127.0.0.1 port=5432 user=postgres"
OPEN_LAKE = "import _compute_tables as t; t.open_lake_and_read()"
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20, help="no-op tasks per runner")
    parser.add_argument("--processes", type=int, default=2, help="local processes / Dask workers at once")
    parser.add_argument("--poll", type=float, default=0.2, help="seconds between polls of squeue / the queue")
    parser.add_argument("--keys", type=int, default=1000, help="keys populated in b)")
    parser.add_argument("--workers", type=int, default=2, help="populate workers in b)")
    parser.add_argument("--quick", action="store_true", help="smoke test: 2 tasks, 20 keys")
    parser.add_argument("--no-dj", action="store_true", help="skip DataJoint")
    parser.add_argument("--no-slurm", action="store_true", help="skip SLURM")
    parser.add_argument("--no-dask", action="store_true", help="skip Dask")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL lake in b)")
    parser.add_argument("--dsn", default=PG_DSN, help="PostgreSQL catalog of b)")
    parser.add_argument("--dj-python", default=os.environ.get("LABDATA_BENCH_DJ_PYTHON"),
                        help=f"interpreter with datajoint<2 (default {_dj_process.DEFAULT_DJ_PYTHON})")
    parser.add_argument("--dj-host", default="127.0.0.1", help="MariaDB host (port 3306, root, no password)")
    args = parser.parse_args(argv)
    if args.quick:
        args.tasks, args.keys = 2, 20
    return args


def progress(text: str) -> None:
    """A progress line on stderr."""
    print(text, file=sys.stderr, flush=True)


def wait_until(done: Callable[[], bool], poll: float, timeout: float = 1800) -> None:
    """Poll ``done`` every ``poll`` seconds until it is true."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError("the tasks did not end in time")
        time.sleep(poll)


def timed(work: Callable[[], Any]) -> float:
    """Seconds ``work()`` took."""
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


class Lab:
    """A fresh lake, its preferences (the ``noop`` analysis) and the environment its workers inherit."""

    def __init__(self, work: Path, kind: str = "sqlite", dsn: str | None = None) -> None:
        from labdata.catalog import Context, Lake
        from labdata.core.config import Preferences

        self.metadata_schema = f"ld_bench_{uuid.uuid4().hex[:10]}" if kind == "postgres" else None
        self.dsn = dsn
        prefs = work / "user_preferences.json"
        prefs.write_text(json.dumps({"compute": {"analysis": {"noop": "_compute_tables.NoOp"}}}))
        os.environ["LABDATA_PREFERENCES"] = str(prefs)
        self.lake = Lake(kind, work / f"lake-{kind}", dsn=dsn, metadata_schema=self.metadata_schema)
        self.context = Context(self.lake, "bench", Preferences.load(prefs))

    def statuses(self, job_ids: list[int]) -> list[str]:
        """The status of each task."""
        from labdata.schema import ComputeTask

        return list((ComputeTask(self.context) & [{"job_id": i} for i in job_ids]).fetch("task_status"))

    def close(self) -> None:
        """Close the lake; drop a PostgreSQL metadata schema."""
        self.lake.close()
        if self.metadata_schema:
            drop_pg_schema(self.dsn or PG_DSN, self.metadata_schema)


def drop_pg_schema(dsn: str, name: str) -> None:
    """Drop the PostgreSQL schema of a lake's DuckLake metadata (as tests/conftest.py does)."""
    import duckdb

    from labdata.catalog.engine.attach import extension_path

    connection = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    connection.execute(f"LOAD '{extension_path('postgres_scanner')}'")
    connection.execute(f"ATTACH '{dsn}' AS pgadmin (TYPE postgres)")
    connection.execute(f"CALL postgres_execute('pgadmin', 'DROP SCHEMA IF EXISTS {name} CASCADE')")
    connection.close()


def postgres_reachable() -> bool:
    """Whether PostgreSQL accepts connections on 127.0.0.1:5432."""
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
    except OSError:
        return False
    return True


# ---- a) dispatch overhead -------------------------------------------------------------------------------------
def labdata_noops(lab: Lab, target: str, args: argparse.Namespace, settings: dict[str, Any]) -> float:
    """Seconds per task of ``--tasks`` no-op tasks on ``target``, from submit until all are COMPLETED."""
    from labdata.compute import submit

    start = time.perf_counter()
    result = submit("noop", target=target, context=lab.context, workers=args.tasks, force=True,
                    wait=target != "slurm", runner_settings=settings)
    wait_until(lambda: set(lab.statuses(result.job_ids)) <= TERMINAL, args.poll)
    seconds = time.perf_counter() - start
    statuses = lab.statuses(result.job_ids)
    if set(statuses) != {"COMPLETED"}:
        raise RuntimeError(f"{target}: tasks ended {statuses}")
    return seconds / args.tasks


def bare_local(command: list[str], args: argparse.Namespace, environment: dict[str, str]) -> float:
    """Seconds per process of ``--tasks`` runs of ``command``, ``--processes`` at a time."""
    def one(_: int) -> None:
        subprocess.run(command, env=environment, check=True)

    with ThreadPoolExecutor(args.processes) as pool:
        return timed(lambda: list(pool.map(one, range(args.tasks)))) / args.tasks


def bare_sbatch(command: list[str], args: argparse.Namespace, environment: dict[str, str]) -> float:
    """Seconds per job of ``--tasks`` ``sbatch --wrap`` jobs, squeue polled every ``--poll`` s until all left."""
    import shlex

    start = time.perf_counter()
    ids = [subprocess.run(["sbatch", "--parsable", "--output=/dev/null", "--wrap", shlex.join(command)],
                          capture_output=True, text=True, check=True, env=environment).stdout.strip().split(";")[0]
           for _ in range(args.tasks)]
    wait_until(lambda: not subprocess.run(["squeue", "-h", "-j", ",".join(ids)], capture_output=True, text=True,
                                          check=False).stdout.strip(), args.poll)
    return (time.perf_counter() - start) / args.tasks


def dask_rows(lab: Lab, args: argparse.Namespace, environment: dict[str, str]) -> list[list[str]]:
    """labdata's dask runner and bare ``client.submit`` on one LocalCluster of ``--processes`` workers."""
    from distributed import Client, LocalCluster

    progress("a) dask")
    python = [sys.executable, "-c"]
    with LocalCluster(n_workers=args.processes, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.submit(int, 0).result()  # the workers are up
        start = time.perf_counter()
        client.gather([client.submit(_noop, i, pure=False) for i in range(args.tasks)])
        noop = (time.perf_counter() - start) / args.tasks
        pass_ = _timed_dask(client, [*python, "pass"], environment, args.tasks)
        lake = _timed_dask(client, [*python, OPEN_LAKE], environment, args.tasks)
        ours = labdata_noops(lab, "dask", args, {"address": cluster.scheduler_address})
    return overhead_rows("dask", ours, [("client.submit(noop)", noop),
                                        ("client.submit(subprocess.run, python -c pass)", pass_),
                                        ("client.submit(subprocess.run, python: import labdata, open lake)",
                                         lake)])


def _noop(_: int) -> None:
    """The bare Dask task."""


def _run(command: list[str], environment: dict[str, str], _: int) -> None:
    subprocess.run(command, env=environment, check=True)


def _timed_dask(client: Any, command: list[str], environment: dict[str, str], tasks: int) -> float:
    start = time.perf_counter()
    client.gather([client.submit(_run, command, environment, i, pure=False) for i in range(tasks)])
    return (time.perf_counter() - start) / tasks


def overhead_rows(runner: str, ours: float, bares: list[tuple[str, float]]) -> list[list[str]]:
    """A row for labdata and one per bare baseline, with labdata/bare; the last baseline carries the target."""
    rows = [[runner, "labdata submit(noop), until COMPLETED", f"{ours:.3f}", "", "", ""]]
    for index, (name, seconds) in enumerate(bares):
        last = index == len(bares) - 1
        ratio = ours / seconds if seconds else float("inf")
        rows.append([runner, name, f"{seconds:.3f}", f"{ratio:.2f}x", "<= 1.5x" if last else "",
                     ("yes" if ratio <= 1.5 else "no") if last else ""])
    return rows


def overhead(args: argparse.Namespace, work: Path) -> list[list[str]]:
    """Part a): every runner against its bare scheduler."""
    from labdata.compute.runners import RUNNERS
    from labdata.compute.runners.slurm import slurm_available
    from labdata.compute.worker import worker_environment

    lab = Lab(work)
    try:
        environment = worker_environment(lab.context)
        python = [sys.executable, "-c"]
        rows = []
        progress(f"a) local: {args.tasks} no-op tasks, {args.processes} at a time")
        ours = labdata_noops(lab, "local", args, {"processes": args.processes})
        rows += overhead_rows("local", ours, [
            ("subprocess.run(python -c pass)", bare_local([*python, "pass"], args, environment)),
            ("subprocess.run(python: import labdata, open lake)", bare_local([*python, OPEN_LAKE], args,
                                                                             environment))])
        if args.no_slurm or not slurm_available():
            rows.append(["slurm", "skipped (--no-slurm)" if args.no_slurm else "no sbatch/squeue here", "", "", "",
                         ""])
        else:
            progress(f"a) slurm: {args.tasks} no-op jobs")
            ours = labdata_noops(lab, "slurm", args, {})
            rows += overhead_rows("slurm", ours, [
                ("sbatch --wrap 'python -c pass'", bare_sbatch([*python, "pass"], args, environment)),
                ("sbatch --wrap 'python: import labdata, open lake'", bare_sbatch([*python, OPEN_LAKE], args,
                                                                                  environment))])
        rows += dask_or_why(lab, args, environment, RUNNERS)
    finally:
        lab.close()
    return rows


def dask_or_why(lab: Lab, args: argparse.Namespace, environment: dict[str, str],
                runners: dict[str, Any]) -> list[list[str]]:
    """The Dask rows, or one row saying why there are none."""
    if args.no_dask:
        return [["dask", "skipped (--no-dask)", "", "", "", ""]]
    if "dask" not in runners:
        return [["dask", "dask runner not available", "", "", "", ""]]
    try:
        import distributed  # noqa: F401
    except ImportError:
        return [["dask", "distributed is not installed", "", "", "", ""]]
    return dask_rows(lab, args, environment)


# ---- b) populate throughput -----------------------------------------------------------------------------------
def labdata_populate(args: argparse.Namespace, work: Path, kind: str) -> dict[str, Any]:
    """Keys/s of ``submit("populate", workers=2)`` on a fresh ``kind`` lake with ``--keys`` items."""
    from _compute_tables import BenchItem, BenchSquare
    from labdata.compute import submit

    lab = Lab(work, kind, args.dsn if kind == "postgres" else None)
    try:
        BenchItem(lab.context).insert([dict(item_id=i, value=i) for i in range(args.keys)])
        len(BenchSquare(lab.context))  # the tables exist before the workers start
        progress(f"b) labdata on {kind}: {args.keys} keys, {args.workers} workers")
        start = time.perf_counter()
        result = submit("populate", target="local", context=lab.context, workers=args.workers,
                        args=["_compute_tables.BenchSquare", "-i", "_compute_tables"],
                        runner_settings={"processes": args.workers})
        seconds = time.perf_counter() - start
        statuses, made = lab.statuses(result.job_ids), len(BenchSquare(lab.context))
        in_populate = max(populate_seconds(lab, job_id) for job_id in result.job_ids)
    finally:
        lab.close()
    if set(statuses) != {"COMPLETED"} or made != args.keys:
        raise RuntimeError(f"labdata on {kind}: tasks {statuses}, {made} of {args.keys} keys made")
    return {"seconds": seconds, "keys": made, "in_populate": in_populate}


def populate_seconds(lab: Lab, job_id: int) -> float:
    """The seconds a populate task spent in ``populate()``, from its log line ``... failed in 0.412 s``."""
    import re

    log = (lab.context.prefs().labdata_path / "logs" / f"populate_{job_id}.log").read_text()
    found = re.findall(r"failed in ([0-9.]+) s", log)
    if not found:
        raise RuntimeError(f"task {job_id} logged no populate time:\n{log[-2000:]}")
    return float(found[-1])


def datajoint_populate(args: argparse.Namespace) -> tuple[dict[str, Any] | None, str]:
    """Keys/s of ``--workers`` processes each calling ``Square.populate(reserve_jobs=True)``, or None and why."""
    if args.no_dj:
        return None, "skipped (--no-dj)"
    python, why = _dj_process.datajoint_python(args.dj_python)
    unreachable = None if python is None else _dj_process.mariadb_reachable(args.dj_host)
    if python is None or unreachable:
        return None, unreachable or why
    schema = f"labdata_bench_compute_{uuid.uuid4().hex[:8]}"
    base = [python, str(HERE / "_compute_dj.py")]
    options = ["--schema", schema, "--host", args.dj_host, "--keys", str(args.keys)]
    subprocess.run([*base, "setup", *options], check=True, capture_output=True, cwd=HERE)
    try:
        progress(f"b) DataJoint: {args.keys} keys, {args.workers} processes")
        start = time.perf_counter()
        workers = [subprocess.Popen([*base, "populate", *options], stdout=subprocess.PIPE, cwd=HERE)
                   for _ in range(args.workers)]
        outputs = [json.loads(w.communicate()[0]) for w in workers]
        seconds = time.perf_counter() - start
        check = json.loads(subprocess.run([*base, "check", *options], check=True, capture_output=True,
                                          cwd=HERE).stdout)
    finally:
        subprocess.run([*base, "drop", *options], check=False, capture_output=True, cwd=HERE)
    made = sum(o["made"] for o in outputs)
    if made != args.keys or check["rows"] != args.keys:
        raise RuntimeError(f"DataJoint made {made} keys, {check['rows']} rows, of {args.keys}")
    return {"seconds": seconds, "keys": made, "in_populate": max(o["seconds"] for o in outputs)}, why


def throughput(args: argparse.Namespace, work: Path) -> list[list[str]]:
    """Part b): labdata on SQLite and PostgreSQL lakes against DataJoint on MariaDB."""
    dj, why = datajoint_populate(args)
    kinds = ["sqlite"] + ([] if args.no_postgres else ["postgres"])
    rows = []
    for kind in kinds:
        if kind == "postgres" and not postgres_reachable():
            rows.append([f"labdata, {kind} lake", "PostgreSQL not reachable on 127.0.0.1:5432", *[""] * 7])
            continue
        ours = labdata_populate(args, work / kind, kind)
        rows.append(throughput_row(f"labdata submit(populate, workers={args.workers}), {kind} lake", ours, dj))
    if dj:
        side = f"DataJoint 0.14 populate(reserve_jobs=True) x {args.workers} processes, MariaDB"
        rows.append([*throughput_row(side, dj, dj)[:-2], "", ""])
    else:
        rows.append(["DataJoint 0.14", why, *[""] * 7])
    args.dj_in_populate = dj["in_populate"] if dj else None
    return rows


def throughput_row(side: str, ours: dict[str, Any], dj: dict[str, Any] | None) -> list[str]:
    """Seconds and keys/s from the start of the workers and inside populate (the slowest worker), with ratios."""
    total, inside = ours["keys"] / ours["seconds"], ours["keys"] / ours["in_populate"]
    ratio_total = total / (dj["keys"] / dj["seconds"]) if dj else None
    ratio_inside = inside / (dj["keys"] / dj["in_populate"]) if dj else None
    return [side, f"{ours['seconds']:.2f}", f"{total:.0f}", f"{ratio_total:.2f}x" if ratio_total else "n/a",
            f"{ours['in_populate']:.2f}", f"{inside:.0f}", f"{ratio_inside:.2f}x" if ratio_inside else "n/a",
            ">= 5x", ("yes" if ratio_inside >= 5 else "no") if ratio_inside else ""]


def main(argv: list[str] | None = None) -> None:
    """Run both parts in a fresh folder, removed afterwards."""
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="labdata-bench-compute-"))
    os.environ["LABDATA_PATH"] = str(work / "labdata")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in [str(HERE), os.environ.get("PYTHONPATH", "")] if p)
    try:
        (work / "sqlite").mkdir()
        (work / "postgres").mkdir()
        a = overhead(args, work)
        b = throughput(args, work)
        c = measure_floor(Lab, work, args.keys, args.workers, args.dj_in_populate)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(f"a) dispatch overhead: {args.tasks} no-op tasks per runner, submitted at once, "
                f"{args.processes} local processes / Dask workers; seconds per task until all COMPLETED",
                ["runner", "how", "s/task", "labdata/bare", "target", "met"], a)
    print_table(f"b) populate throughput: {args.keys} cheap keys (make reads 1 row, inserts 1), "
                f"{args.workers} workers; from the start of the workers, and inside populate() (the slowest worker)",
                ["side", "s, workers", "keys/s", "ratio", "s, populate()", "keys/s", "ratio", "target", "met"], b)
    print_table("c) the catalog's floor (SQLite lake, median of 7): the fewest transactions a populate of "
                f"{args.workers} reserving workers needs, with the rows they carry, run one at a time",
                ["step", "ms", "times", "against 5x DataJoint"], c)
    print(machine(f"polling every {args.poll} s; "))


if __name__ == "__main__":
    main()
