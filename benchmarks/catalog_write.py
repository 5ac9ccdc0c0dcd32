"""Benchmark: writing rows to the catalog, labdata against raw DuckLake SQL.

For each catalog kind (an embedded SQLite catalog and a PostgreSQL catalog)
this script measures, side by side in the same run,

* single-row insert latency: ``Session.insert1(row)`` (coercion and type
  checks in Python, then one write transaction that checks duplicate keys and
  missing parents) against a raw autocommit
  ``INSERT INTO lake.<project>.session_raw VALUES (?, ?, ?, ?)`` through
  ``lake.cursor().execute`` (DuckDB itself, bypassing labdata) on a pre-created
  table with the same columns and no checks.
  The two run in alternating blocks of 50 so both see the same catalog growth;
  the median and the 90th percentile are reported;
* a batch insert: ``Session.insert(list_of_dicts)`` against
  ``INSERT INTO ... SELECT * FROM <registered Arrow table>`` (the Arrow table
  is built before the clock starts); median of ``--repeats`` runs;
* how many Parquet data files the session table has after the single-row
  inserts (DuckLake inlines small inserts in the catalog database, so they
  must not become one file each), again after ``flush_inlined_data``, and how
  many snapshots the inserts created.

Targets (from the issue): single-row median <= 20 ms on SQLite, a
10,000-row batch <= 2 s, and far fewer Parquet files than single-row inserts
(here: at most ``max(1, N // 100)``). The ratio column is labdata / baseline.

Run it from the repository root::

    python benchmarks/catalog_write.py                    # 1,000 singles, 10,000-row batch
    python benchmarks/catalog_write.py --quick            # smoke test: 50 singles, 1,000 rows
    python benchmarks/catalog_write.py --kinds sqlite --single 200

PostgreSQL is expected at ``--dsn`` (default ``dbname=test host=127.0.0.1
user=postgres``); each run uses a fresh metadata schema ``ld_bench_<hex>``
that is dropped at the end. When the server is unreachable, that kind is
skipped with a message. Progress goes to stderr, the tables to stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
from tqdm import tqdm

from _table import print_table
from labdata.catalog import Context, Lake, use
from labdata.schema import LabMember, Session, Species, Strain, Subject

PROJECT = "bench"
DEFAULT_DSN = "dbname=test host=127.0.0.1 user=postgres"
RAW_TABLE = "session_raw"
START = dt.datetime(2024, 1, 1)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single", type=int, default=1000, help="single-row inserts per side")
    parser.add_argument("--batch", type=int, default=10000, help="rows in the batch insert")
    parser.add_argument("--repeats", type=int, default=3, help="batch inserts per side (median)")
    parser.add_argument("--kinds", default="sqlite,postgres", help="comma-separated catalog kinds")
    parser.add_argument("--dsn", default=DEFAULT_DSN, help="PostgreSQL connection string")
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke test (50 / 1,000)")
    args = parser.parse_args(argv)
    if args.quick:
        args.single, args.batch, args.repeats = 50, 1000, 1
    return args


# ---- setting up ---------------------------------------------------------------------

def open_lake(kind: str, root: Path, dsn: str) -> Lake:
    """Open a fresh lake of ``kind`` under ``root`` (a unique metadata schema on PostgreSQL)."""
    if kind == "sqlite":
        return Lake("sqlite", root)
    return Lake("postgres", root, dsn=dsn, metadata_schema=f"ld_bench_{uuid.uuid4().hex[:8]}")


def drop_metadata_schema(lake: Lake, dsn: str) -> None:
    """Drop the PostgreSQL schema that held this run's DuckLake metadata."""
    cursor = lake.cursor()
    cursor.execute(f"ATTACH '{dsn}' AS pgadmin (TYPE postgres)")
    cursor.execute(f"CALL postgres_execute('pgadmin', 'DROP SCHEMA {lake.metadata_schema} CASCADE')")


def seed(context: Context) -> None:
    """Create the tables (first insert) and the parent rows every session refers to."""
    with use(context):
        LabMember.insert1({"user_name": "u", "date_joined": "2020-01-01"})
        Species.insert1({"species_name": "mouse", "species_scientific_name": "Mus musculus"})
        Strain.insert1({"strain_name": "C57BL/6J", "species_name": "mouse"})
        Subject.insert1({"subject_name": "S1", "subject_dob": "2023-01-01", "subject_sex": "M",
                         "strain_name": "C57BL/6J", "user_name": "u"})
    columns = ", ".join(f'"{a.name}" {a.sql_type}' for a in Session.table_schema().attributes)
    context.lake.execute(f"CREATE TABLE {raw_target(context)} ({columns})")


def raw_target(context: Context) -> str:
    """The quoted name of the baseline table (same columns as Session, no checks)."""
    return context.qualified("data", RAW_TABLE)


def session_row(prefix: str, i: int) -> dict:
    """A Session row with a distinct key."""
    return {"subject_name": "S1", "session_name": f"{prefix}{i:07d}",
            "session_datetime": START + dt.timedelta(seconds=i), "experimenter": "u"}


# ---- measuring --------------------------------------------------------------------

def timed(action: Callable[[], object]) -> float:
    """Seconds taken by ``action()``."""
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


BLOCK = 50


def single_inserts(context: Context, n: int, kind: str) -> tuple[list[float], list[float]]:
    """Run ``n`` labdata and ``n`` raw single-row inserts in alternating blocks of 50.

    Blocks (rather than alternating single inserts) let both sides see the same catalog
    growth while labdata runs as one writer would: a foreign write between its inserts
    (here, the raw block) makes it forget the keys it knew, once per block.
    """
    sql = f"INSERT INTO {raw_target(context)} VALUES (?, ?, ?, ?)"
    lab, raw = [], []
    progress = tqdm(total=2 * n, desc=f"{kind}: single-row inserts", unit="insert", file=sys.stderr)
    with use(context), progress:
        for start in range(0, n, BLOCK):
            rows = [session_row("s", i) for i in range(start, min(n, start + BLOCK))]
            for row in rows:
                lab.append(timed(lambda row=row: Session.insert1(row)))
            for row in rows:
                raw.append(timed(lambda row=row: context.lake.cursor().execute(sql, list(row.values()))))
            progress.update(2 * len(rows))
    return lab, raw


def batch_inserts(context: Context, n: int, repeats: int, kind: str) -> tuple[float, float]:
    """Median seconds of a ``n``-row labdata batch insert and of the raw Arrow insert."""
    cursor, lab, raw = context.lake.cursor(), [], []
    for r in tqdm(range(repeats), desc=f"{kind}: {n:,}-row batches", unit="pair", file=sys.stderr):
        rows = [session_row(f"b{r}_", i) for i in range(n)]
        arrow = pa.Table.from_pylist(rows)
        cursor.register("bench_batch", arrow)
        names = ", ".join(f'"{c}"' for c in arrow.column_names)
        sql = f"INSERT INTO {raw_target(context)} ({names}) SELECT {names} FROM bench_batch"
        with use(context):
            lab.append(timed(lambda: Session.insert(rows)))  # noqa: B023
        raw.append(timed(lambda: cursor.execute(sql)))  # noqa: B023
        cursor.unregister("bench_batch")
    return statistics.median(lab), statistics.median(raw)


def _metadata(lake: Lake, sql: str, params: list) -> int:
    """Run a count on DuckLake's metadata tables (named ``META`` in ``sql``)."""
    meta = f"__ducklake_metadata_{lake.alias}" + (f'."{lake.metadata_schema}"' if lake.metadata_schema else "")
    return int(lake.execute(sql.replace("META", meta), params).fetchone()[0])


def table_id(lake: Lake, schema: str, table: str) -> int:
    """DuckLake's id of the live table ``schema.table``."""
    return _metadata(lake, "SELECT t.table_id FROM META.ducklake_table t JOIN META.ducklake_schema s "
                     "USING (schema_id) WHERE s.schema_name = ? AND t.table_name = ? "
                     "AND t.end_snapshot IS NULL AND s.end_snapshot IS NULL", [schema, table])


def data_files(lake: Lake, table: int) -> int:
    """Live Parquet data files of one table."""
    return _metadata(lake, "SELECT count(*) FROM META.ducklake_data_file "
                     "WHERE table_id = ? AND end_snapshot IS NULL", [table])


def snapshots_touching(lake: Lake, table: int) -> int:
    """Snapshots whose changes name the table (inserts, inlined inserts, deletes)."""
    return _metadata(lake, "SELECT count(*) FROM META.ducklake_snapshot_changes "
                     "WHERE regexp_matches(changes_made, ?)", [rf"(^|,)[a-z_]+:{table}(,|$)"])


def file_counts(context: Context) -> tuple[int, int, int, int]:
    """Files of the labdata and raw session tables, and the snapshots touching each."""
    lake, schema = context.lake, context.schema_for("data")
    ids = table_id(lake, schema, "session"), table_id(lake, schema, RAW_TABLE)
    return (*[data_files(lake, t) for t in ids], *[snapshots_touching(lake, t) for t in ids])


# ---- reporting ----------------------------------------------------------------------

def percentile(values: list[float], q: int) -> float:
    """The ``q``-th percentile (inclusive method)."""
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def row(name: str, lab: float, raw: float, fmt: str, limit: float | None, limit_text: str) -> list[str]:
    """One table row: measurement, both values, ratio, target and whether it is met."""
    ratio = f"{lab / raw:.1f}x" if raw else "—"
    met = "—" if limit is None else ("yes" if lab <= limit else "NO")
    return [name, format(lab, fmt), format(raw, fmt), ratio, limit_text, met]


HEADER = ["measurement", "labdata", "raw DuckLake baseline", "ratio", "target", "met?"]


def bench_kind(kind: str, lake: Lake, args: argparse.Namespace) -> list[list[str]]:
    """Run every measurement on a fresh lake of ``kind``, then drop it; return the table rows."""
    try:
        context = Context(lake, PROJECT)
        seed(context)
        lab, raw = single_inserts(context, args.single, kind)
        files_lab, files_raw, snaps_lab, snaps_raw = file_counts(context)
        lake.flush_inlined_data()
        flushed_lab, flushed_raw, *_ = file_counts(context)
        batch_lab, batch_raw = batch_inserts(context, args.batch, args.repeats, kind)
    finally:
        if kind == "postgres":
            drop_metadata_schema(lake, args.dsn)
        lake.close()
    n, ms, most = args.single, 1000, max(1, args.single // 100)
    single_limit = 20.0 if kind == "sqlite" else None
    return [
        row("single-row insert, median (ms)", statistics.median(lab) * ms, statistics.median(raw) * ms,
            ".1f", single_limit, "<= 20 ms" if single_limit else "— (SQLite only)"),
        row("single-row insert, p90 (ms)", percentile(lab, 90) * ms, percentile(raw, 90) * ms, ".1f", None, "—"),
        row(f"{args.batch:,}-row batch insert (s)", batch_lab, batch_raw, ".3f",
            2.0 * args.batch / 10000, f"<= {2.0 * args.batch / 10000:g} s"),
        row(f"Parquet files after {n:,} single inserts", files_lab, files_raw, "d", most, f"<= {most}"),
        row("Parquet files after flush_inlined_data", flushed_lab, flushed_raw, "d", most, f"<= {most}"),
        row(f"snapshots from {n:,} single inserts", snaps_lab, snaps_raw, "d", None, "—"),
    ]


def main(argv: list[str] | None = None) -> None:
    """Benchmark every requested catalog kind and print one table per kind."""
    args = parse_args(argv)
    print(f"catalog_write: {args.single:,} single-row inserts per side, "
          f"{args.batch:,}-row batch (median of {args.repeats}); ratio = labdata / baseline", flush=True)
    for kind in [k.strip() for k in args.kinds.split(",") if k.strip()]:
        with tempfile.TemporaryDirectory(prefix=f"labdata-bench-{kind}-") as tmp:
            try:
                lake = open_lake(kind, Path(tmp) / "lake", args.dsn)
            except Exception as error:  # an unreachable server skips the kind
                if kind != "postgres":
                    raise
                print(f"\n{kind}: skipped, could not open the catalog "
                      f"({type(error).__name__}: {str(error).splitlines()[0]})", flush=True)
                continue
            rows = bench_kind(kind, lake, args)
        print_table(f"{kind} catalog", HEADER, rows)


if __name__ == "__main__":
    main()
