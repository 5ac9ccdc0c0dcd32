"""Benchmark: querying a lab-scale catalog, labdata against DataJoint 0.14 on MariaDB.

Builds (once, then reuses) a lab-scale labdata catalog: 10,000 subjects,
200,000 sessions, 400,000 datasets, 2,000,000 files (and as many
``Dataset.DataFiles`` rows), 200,000 recordings, probe settings and sortings,
5,000,000 units and 5,000,000 unit metrics (``--scale`` multiplies every
count), and prints the median time of each seed query shape (key-restricted
fetches, one session's units as dicts, the lab-wide criteria scan and fetch,
aggregates, a join, and building + compiling a query) and of the seeds' user
guide (``Session & 'experimenter = "X"'``, LIKE, ``fetch1``, DataFrames, ...),
with the absolute targets of the issue.

When an interpreter with ``datajoint<2`` is found (``--dj-python``, default
``/tmp/djvenv/bin/python`` if it exists) and MariaDB answers on
``--dj-host`` (root, empty password), the same shapes run on the same rows
against DataJoint 0.14 (``_dj_baseline.py``, a subprocess), at
``--dj-scale`` (default 0.05 of the lab scale: DataJoint's side is loaded with
``LOAD DATA``, and a like-for-like comparison needs labdata on a catalog of
the same scale, which is built too). A second table then gives both medians,
the ratio DataJoint / labdata (> 1 means labdata is faster), the target and
whether it is met. Otherwise the script says why and prints only the first
table.

Run it from the repository root (the venv active)::

    python benchmarks/catalog_query.py [--scale S] [--dj-scale S] [--path DIR] [--rebuild] [--no-dj]
    python benchmarks/catalog_query.py                       # lab scale + DataJoint at 0.05
    python benchmarks/catalog_query.py --scale 0.1 --dj-scale 0.02
    python benchmarks/catalog_query.py --no-dj --rebuild     # rebuild the cached lake
    python benchmarks/catalog_query.py --quick               # smoke test, tiny catalogs
    python benchmarks/catalog_query.py --small-lab           # both sides at 100 subjects / 2,000 sessions

Catalogs are cached under ``--path`` (default ``/tmp/labdata-bench-lake``, one
folder per scale) and the DataJoint rows in the MariaDB schema
``labdata_bench_dj``. The DataJoint interpreter can be made with
``python -m venv /tmp/djvenv && /tmp/djvenv/bin/pip install "datajoint<2" numpy pandas pymysql tqdm``.
Progress goes to stderr, the tables to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _dj_process
import _lab_catalog
import _lab_rows
import _shapes
import _table
from _table import print_table

HERE = Path(__file__).resolve().parent
DEFAULT_DJ_PYTHON = _dj_process.DEFAULT_DJ_PYTHON
KEY_MS, COMPILE_MS, BIG_MS, FASTER = 5.0, 1.0, 500.0, 10.0
SMALL_LAB = 0.01  # the small lab of issue 14, item 7
ROUNDS = 5  # the two sides take turns this many times per shape


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="lab-scale catalog size (1 = 10,000 subjects)")
    parser.add_argument("--dj-scale", type=float, default=0.05, help="catalog size of the DataJoint comparison")
    parser.add_argument("--path", type=Path, default=Path("/tmp/labdata-bench-lake"), help="cache folder")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached catalogs (both sides)")
    parser.add_argument("--repeats", type=float, default=1.0, help="multiplier of the repeats of every shape")
    parser.add_argument("--probes", type=int, default=60, help="distinct keys the key-restricted shapes cycle over")
    parser.add_argument("--no-dj", action="store_true", help="skip the DataJoint comparison")
    parser.add_argument("--dj-python", default=os.environ.get("LABDATA_BENCH_DJ_PYTHON"),
                        help=f"interpreter with datajoint<2 (default {DEFAULT_DJ_PYTHON} if it exists)")
    parser.add_argument("--dj-host", default="127.0.0.1", help="MariaDB host (port 3306, root, no password)")
    parser.add_argument("--dj-schema", default="labdata_bench_dj", help="MariaDB schema of the DataJoint rows")
    parser.add_argument("--small-lab", action="store_true",
                        help="both sides at scale 0.01 (100 subjects, 2,000 sessions, 50,000 units with metrics)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: scale 0.002, few repeats, temp folder, schema labdata_bench_dj_quick")
    args = parser.parse_args(argv)
    if args.small_lab:  # its own MariaDB schema, so that it does not reload the default one each time
        args.scale = args.dj_scale = SMALL_LAB
        if args.dj_schema == "labdata_bench_dj":
            args.dj_schema = "labdata_bench_dj_small"
    if args.quick:
        args.scale, args.dj_scale, args.repeats, args.probes = 0.002, 0.002, 0.02, 5
        args.dj_schema = "labdata_bench_dj_quick"
    return args


# ---- timing ---------------------------------------------------------------------------

def time_labdata(catalog: _lab_catalog.Catalog, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Time every shape on one labdata catalog."""
    import labdata.schema as tables
    from labdata.catalog import use

    probes = _lab_rows.sample_keys(catalog.scale, args.probes)
    shapes = _shapes.shapes(tables, _shapes.LABDATA, args.repeats)
    results = {}
    with use(catalog.context), tqdm(total=sum(s.repeats for s in shapes), file=sys.stderr,
                                    desc=f"labdata: timing at scale {catalog.scale:g}") as bar:
        for shape in shapes:
            results[shape.key] = _shapes.run(shape, probes, bar.update)
    return results


# ---- the DataJoint side ----------------------------------------------------------------

def datajoint_python(args: argparse.Namespace) -> tuple[str | None, str]:
    """The interpreter to run the baseline with, or None and why not."""
    if args.no_dj:
        return None, "skipped (--no-dj)"
    return _dj_process.datajoint_python(args.dj_python)


class DataJoint(_dj_process.JsonProcess):
    """The DataJoint baseline as a subprocess (``_dj_baseline.py --serve``) that times one shape per request."""

    def __init__(self, python: str, args: argparse.Namespace, definitions: Path) -> None:
        command = [python, str(HERE / "_dj_baseline.py"), "--serve", "--scale", str(args.dj_scale),
                   "--definitions", str(definitions), "--repeats", str(args.repeats), "--probes", str(args.probes),
                   "--host", args.dj_host, "--schema", args.dj_schema] + (["--rebuild"] if args.rebuild else [])
        super().__init__(command, definitions.parent)

    def run(self, key: str, round_: int = 0, rounds: int = 1) -> dict[str, Any]:
        """Time one round of a shape on the DataJoint side (see ``_shapes.run``)."""
        return self.ask(f"{key} {round_} {rounds}")


def compare(python: str, args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any],
                                                            _lab_catalog.Catalog]:
    """Load both sides at ``--dj-scale``, then time each shape on DataJoint and on labdata, alternately."""
    import labdata.schema as tables
    from labdata.catalog import use

    with tempfile.TemporaryDirectory() as tmp:
        definitions = Path(tmp) / "definitions.json"
        definitions.write_text(json.dumps(_lab_catalog.dj_definitions()))
        dj = DataJoint(python, args, definitions)
        try:
            catalog = _lab_catalog.open_catalog(args.path, args.dj_scale, rebuild=args.rebuild)
            probes = _lab_rows.sample_keys(args.dj_scale, args.probes)
            shapes = _shapes.shapes(tables, _shapes.LABDATA, args.repeats)
            lab, base = {}, {}
            with use(catalog.context), tqdm(total=len(shapes), file=sys.stderr, unit="shape",
                                            desc=f"both sides, alternating, at scale {args.dj_scale:g}") as bar:
                for shape in shapes:
                    base[shape.key], lab[shape.key] = alternate(dj, shape, probes)
                    bar.update()
        finally:
            dj.close()
    return lab, base, dj.report, catalog


def alternate(dj: DataJoint, shape: _shapes.Shape, probes: list[dict[str, Any]]) -> tuple[dict, dict]:
    """Time a shape in ``ROUNDS`` rounds, DataJoint then labdata in each; return (DataJoint, labdata)."""
    rounds = min(ROUNDS, shape.repeats)
    base, lab = [], []
    for r in range(rounds):
        base.append(dj.run(shape.key, r, rounds))
        lab.append(_shapes.run(shape, probes, part=(r, rounds)))
    return _shapes.merge(base), _shapes.merge(lab)


# ---- reporting -------------------------------------------------------------------------

def describe(scale: float) -> str:
    """Row counts of a scale, in words."""
    s = _lab_rows.sizes(scale)
    return (f"scale {scale:g}: {s.subjects:,} subjects, {s.sessions:,} sessions, {s.datasets:,} datasets, "
            f"{s.files:,} files, {s.units:,} units with metrics")


def _ms(value: float) -> str:
    return f"{value:.3f}" if value < 1 else f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def absolute_target(kind: str, scale: float) -> tuple[str, float | None]:
    """Text and limit (ms) of a shape's absolute target at ``scale``."""
    if kind == "key":
        return f"<= {KEY_MS:g} ms", KEY_MS
    if kind == "compile":
        return f"<= {COMPILE_MS:g} ms", COMPILE_MS
    if kind == "guide":
        return ">= 1x DataJoint (see below)", None
    if kind == "big":
        limit = BIG_MS * scale
        return (f"<= {limit / 1000:g} s" + ("" if scale == 1 else " (0.5 s x scale)")), limit
    return ">= 10x DataJoint (see below)", None


def lab_rows(shapes: list[_shapes.Shape], results: dict[str, Any], scale: float) -> list[list[str]]:
    """Rows of the labdata-only table with the absolute targets."""
    out = []
    for shape in shapes:
        r = results[shape.key]
        text, limit = absolute_target(shape.kind, scale)
        met = "—" if limit is None else "yes" if r["median_ms"] <= limit else "NO"
        out.append([shape.label, f"{r['rows']:,}", _ms(r["median_ms"]), text, met])
    return out


def comparison_rows(shapes: list[_shapes.Shape], lab: dict[str, Any], dj: dict[str, Any]) -> list[list[str]]:
    """Rows of the side-by-side table: medians, ratio DataJoint / labdata, target, met?"""
    out = []
    for shape in shapes:
        a, b = lab[shape.key]["median_ms"], dj[shape.key]["median_ms"]
        ratio = b / a
        if shape.kind == "key":
            text, met = f"<= {KEY_MS:g} ms and ratio >= 1", a <= KEY_MS and ratio >= 1
        elif shape.kind == "compile":
            text, met = f"<= {COMPILE_MS:g} ms", a <= COMPILE_MS
        elif shape.kind == "guide":
            text, met = "ratio >= 1", ratio >= 1
        else:
            text, met = f"ratio >= {FASTER:g}", ratio >= FASTER
        out.append([shape.label, f"{lab[shape.key]['rows']:,}", _ms(a), _ms(b), f"{ratio:.2f}", text,
                    "yes" if met else "NO"])
    return out


def row_check(shapes: list[_shapes.Shape], lab: dict[str, Any], dj: dict[str, Any]) -> str:
    """Whether both sides returned the same number of rows for every shape."""
    differ = [f"{s.key} ({lab[s.key]['rows']} vs {dj[s.key]['rows']})" for s in shapes
              if lab[s.key]["rows"] != dj[s.key]["rows"]]
    return "same row counts on both sides for every shape" if not differ else "ROW COUNTS DIFFER: " + ", ".join(differ)


def machine() -> str:
    """CPUs and load, which move every timing (the ratios are measured under the same load)."""
    import duckdb

    return _table.machine(f"DuckDB {duckdb.__version__}; ")


def catalog_line(name: str, catalog: _lab_catalog.Catalog) -> str:
    """Build time and size of a labdata catalog."""
    how = "reused from an earlier run, which built it in" if catalog.cached else "built in"
    return (f"{name}: {describe(catalog.scale)}; {how} {catalog.build_seconds:.1f} s; "
            f"{catalog.bytes_on_disk / 2**20:,.0f} MiB on disk at {catalog.root}")


# ---- main --------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> None:
    """Build or reuse the catalogs, time both sides and print the tables."""
    args = parse_args(argv)
    if not args.quick:
        run(args)
        return
    with tempfile.TemporaryDirectory(prefix="labdata-bench-query-") as tmp:
        args.path = Path(tmp)
        run(args)


def run(args: argparse.Namespace) -> None:
    """Time the labdata-only table, then the comparison when DataJoint and MariaDB are there."""
    import labdata.schema as tables

    shapes = _shapes.shapes(tables, _shapes.LABDATA, args.repeats)
    print(f"catalog_query: median of each shape after one warm-up, keys cycling over {args.probes} probes; "
          f"criteria = {_lab_rows.CRITERIA!r}", flush=True)

    print(machine().replace("at the end", "at the start"), flush=True)
    catalog = _lab_catalog.open_catalog(args.path, args.scale, rebuild=args.rebuild)
    lab = time_labdata(catalog, args)
    print(catalog_line("labdata catalog", catalog))
    catalog.lake.close()
    print_table(f"labdata at {describe(args.scale)}  (absolute targets of the issue)",
                ["shape", "rows", "labdata median ms", "target", "met?"], lab_rows(shapes, lab, args.scale))

    python, why = datajoint_python(args)
    unreachable = None if python is None else _dj_process.mariadb_reachable(args.dj_host)
    if python is None or unreachable:
        print(f"\nDataJoint comparison not run: {unreachable or why}.")
        print(machine())
        return
    try:
        lab_small, base, dj, small = compare(python, args)
    except RuntimeError as error:
        print(f"\nDataJoint comparison not run: {error}.")
        return
    print()
    print(catalog_line("labdata catalog", small))
    how = "reused (loaded in an earlier run)" if dj["cached"] else f"loaded in {dj['build_seconds']:.1f} s"
    print(f"DataJoint {dj['datajoint']} on {dj['server']} (InnoDB buffer pool "
          f"{dj['buffer_pool_bytes'] / 2**20:,.0f} MiB), schema {dj['schema']}: {how}; "
          f"{dj['bytes_on_disk'] / 2**20:,.0f} MiB data + indexes")
    small.lake.close()
    print_table(f"labdata vs DataJoint {dj['datajoint']}, same rows, {describe(args.dj_scale)}  "
                "(ratio = DataJoint / labdata, > 1: labdata faster)",
                ["shape", "rows", "labdata ms", "DataJoint ms", "ratio", "target", "met?"],
                comparison_rows(shapes, lab_small, base))
    print(row_check(shapes, lab_small, base))
    print(machine())

if __name__ == "__main__":
    main()
