"""Benchmark: spike sortings' units with their arrays, labdata against DataJoint 0.14 and ``.npy`` files.

On a lab of sortings made by a seeded generator (``_sorting_rows.py``; default
1,000 sortings x 50 units, ~2,000 spikes a unit: sorted ``uint64`` sample times
over one hour at 30 kHz, ``float32`` amplitudes and N x 2 positions), side by
side in one run, the sides taking turns call by call under the same load:

a) bulk insert of units with their arrays, batches of ``--batch`` sortings per call,
   timed on the first ``--insert-sortings``: labdata ``SpikeSorting.Unit.insert(rows)``,
   DataJoint's ``Unit.insert(rows)`` (``longblob`` columns on MariaDB, into a scratch
   schema), ``np.save`` of the same arrays (a file per unit and array; phy's four files
   per sorting); target >= 10x DataJoint;
b) the spike times of ``--fetch-units`` units spread over the lab:
   ``(SpikeSorting.Unit & keys).fetch('spike_times')`` with keys a list of dicts, and
   with the keys ``fetch('KEY')`` returned; vs DataJoint and ``np.load`` of the same
   units (per-unit files; phy's ``spike_times`` + ``spike_clusters`` of each sorting
   touched); targets >= 10x DataJoint and <= 2x np.load;
c) one session's units as dicts, ``(SpikeSorting.Unit & session).fetch(as_dict=True)``
   (and ``get_spike_times()`` when ``SpikeSorting.Unit`` has it); target >= 10x DataJoint;
d) b) and c) from S3 (a moto server, ``_sorting_s3.py``), with the HTTP requests per
   sorting touched; target <= 3. ``n/a`` rows say why when the lake's arrays do not go
   to the storage its preferences name.

Every fetch shape runs once cold (a fresh lake handle, the lake's and the ``.npy``
files dropped from the page cache) and ``--rounds`` times warm, each call on another
draw of keys, after every side's files (the lake, the ``.npy`` files and MariaDB's data
folder) were read once into the page cache (each draw reads other units: without it, the
warm calls of the file-based sides would read the disk while MariaDB's pages are cached);
the tables give the first call and the median of the others.

Run it from the repository root (the venv active)::

    python benchmarks/sorting.py                # 1,000 sortings (DataJoint's schema is kept for later runs)
    python benchmarks/sorting.py --small        # 100 sortings, a few minutes
    python benchmarks/sorting.py --quick --no-dj   # smoke test on a tiny lab

The DataJoint side needs an interpreter with ``datajoint<2`` (``--dj-python``,
default ``/tmp/djvenv/bin/python``) and MariaDB on ``--dj-host`` (root, no
password); without them its rows say why. Progress goes to stderr, the tables to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from tqdm import tqdm

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _dj_process  # noqa: E402
import _sorting_report as report  # noqa: E402
import _sorting_rows as rows  # noqa: E402
from _sorting_files import PhyFiles, UnitFiles, local_store  # noqa: E402
from _sorting_lab import (  # noqa: E402
    LabdataSide,
    dj_definitions,
    drop_from_cache,
    load_into_cache,
    local_preferences,
)

LABDATA, DATAJOINT = "labdata", "DataJoint"
#: MariaDB's data folder (read into the page cache with the others before the warm calls, where readable)
MARIADB_FILES = [Path("/var/lib/mysql")]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sortings", type=int, default=1000, help="sortings of the lab")
    parser.add_argument("--units", type=int, default=50, help="units per sorting")
    parser.add_argument("--spikes", type=int, default=2000, help="mean spikes per unit")
    parser.add_argument("--insert-sortings", type=int, default=100, help="sortings whose insert is timed")
    parser.add_argument("--batch", type=int, default=20, help="sortings per insert call")
    parser.add_argument("--fetch-units", type=int, default=1000, help="units of the lab-wide fetch")
    parser.add_argument("--rounds", type=int, default=7, help="warm calls per fetch shape and side")
    parser.add_argument("--path", type=Path, default=Path(tempfile.gettempdir()),
                        help="where the run's lake and files go (on disk, for the cold rows)")
    parser.add_argument("--small", action="store_true", help="100 sortings, 20 on S3")
    parser.add_argument("--quick", action="store_true", help="smoke test: 4 tiny sortings")
    parser.add_argument("--no-dj", action="store_true", help="skip DataJoint")
    parser.add_argument("--dj-python", default=os.environ.get("LABDATA_BENCH_DJ_PYTHON"),
                        help=f"interpreter with datajoint<2 (default {_dj_process.DEFAULT_DJ_PYTHON})")
    parser.add_argument("--dj-host", default="127.0.0.1", help="MariaDB host (port 3306, root, no password)")
    parser.add_argument("--dj-schema", default=None, help="MariaDB schema of the lab (default per scale)")
    parser.add_argument("--rebuild", action="store_true", help="reload DataJoint's schema")
    parser.add_argument("--no-s3", action="store_true", help="skip part d)")
    parser.add_argument("--s3-sortings", type=int, default=100, help="sortings of the lab on S3")
    parser.add_argument("--s3-rounds", type=int, default=3, help="warm calls per shape on S3")
    args = parser.parse_args(argv)
    if args.small:
        args.sortings, args.s3_sortings = 100, 20
    if args.quick:
        args.sortings, args.units, args.spikes, args.insert_sortings, args.batch = 4, 5, 200, 4, 2
        args.fetch_units, args.rounds, args.s3_sortings, args.s3_rounds = 8, 2, 2, 1
    args.insert_sortings = min(args.insert_sortings, args.sortings)
    args.s3_sortings = min(args.s3_sortings, args.sortings)
    if args.dj_schema is None:
        args.dj_schema = "labdata_bench_sorting" + ("_quick" if args.quick else "_small" if args.small else "")
        if not (args.quick or args.small) and args.sortings != 1000:
            args.dj_schema += f"_{args.sortings}"
    return args


class DataJoint(_dj_process.JsonProcess):
    """``_sorting_dj.py --serve``: builds (or reuses) the lab on MariaDB, then answers one request a line."""

    def __init__(self, python: str, args: argparse.Namespace, definitions: Path) -> None:
        command = [python, str(HERE / "_sorting_dj.py"), "--serve", "--definitions", str(definitions),
                   "--sortings", str(args.sortings), "--units", str(args.units), "--spikes", str(args.spikes),
                   "--batch", str(args.batch), "--fetch-units", str(args.fetch_units), "--host", args.dj_host,
                   "--schema", args.dj_schema] + (["--rebuild"] if args.rebuild else [])
        super().__init__(command, HERE)

    def fetch(self, shape: str, draw: int) -> dict[str, Any]:
        return self.ask(f"fetch {shape} {draw}")


def start_datajoint(args: argparse.Namespace, work: Path) -> tuple[DataJoint | None, str]:
    """The DataJoint side, built or reused, or None and why not."""
    if args.no_dj:
        return None, "skipped (--no-dj)"
    python, why = _dj_process.datajoint_python(args.dj_python)
    unreachable = None if python is None else _dj_process.mariadb_reachable(args.dj_host)
    if python is None or unreachable:
        return None, unreachable or why
    definitions = work / "definitions.json"
    definitions.write_text(json.dumps(dj_definitions()))
    try:
        return DataJoint(python, args, definitions), ""
    except RuntimeError as error:
        return None, str(error)


def rotate(items: list[Any], by: int) -> list[Any]:
    """``items`` started at ``by`` (so that no side always goes first)."""
    k = by % len(items)
    return items[k:] + items[:k]


def insert_all(lab: rows.Lab, args: argparse.Namespace, labdata: LabdataSide, files: list[Any],
               dj: DataJoint | None) -> dict[str, list[dict[str, Any]]]:
    """Insert the lab (labdata and the files); time the first batches on every side, in turns."""
    timed = -(-args.insert_sortings // args.batch)
    out: dict[str, list[dict[str, Any]]] = {}
    if dj is not None:
        dj.ask(f"insert-setup {args.insert_sortings}")
    batches = [range(b, min(b + args.batch, lab.sortings)) for b in range(0, lab.sortings, args.batch)]
    with tqdm(total=lab.total_units, desc=f"labdata + .npy: inserting {lab.sortings:,} sortings "
              f"({args.insert_sortings} timed)", unit="unit", unit_scale=True, file=sys.stderr) as bar:
        for b, sortings in enumerate(batches):
            arrays = {i: rows.unit_arrays(lab, i) for i in sortings}
            values = [r for i in sortings for r in rows.units(lab, i, arrays[i])]
            turns = {LABDATA: lambda: labdata.insert(values)}  # noqa: B023 - called in this iteration
            turns |= {f.label: lambda f=f: sum(f.save(i, a) for i, a in arrays.items()) for f in files}  # noqa: B023
            if dj is not None and b < timed:
                turns[DATAJOINT] = lambda b=b: dj.ask(f"insert {b}")["seconds"]
            for name in rotate(list(turns), b):
                os.sync()  # no side pays for another's write-back
                seconds = turns[name]()
                if b < timed:
                    out.setdefault(name, []).append({"seconds": seconds, "units": len(values)})
            bar.update(len(values))
    if dj is not None:
        dj.ask("insert-done")
    return out


def fetch_all(args: argparse.Namespace, shapes: list[str], labdata: LabdataSide, files: list[Any],
              dj: DataJoint | None, folders: list[Path]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Each shape: every side once cold, then ``--rounds`` warm, in turns; calls by (side, shape)."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    with tqdm(total=len(shapes) * (1 + args.rounds), desc="fetches, all sides in turns", unit="round",
              file=sys.stderr) as bar:
        for shape in shapes:
            sides: dict[str, Any] = {LABDATA: labdata}
            if dj is not None and shape != "session-get":
                sides[DATAJOINT] = dj
            if shape in ("units", "session"):
                sides |= {f.label: f for f in files}
            labdata.reopen()
            drop_from_cache(*folders)
            for draw in range(1 + args.rounds):
                if draw == 1:  # warm: every side's files in the page cache (MariaDB's too), as after a day's use
                    load_into_cache(*folders, *MARIADB_FILES)
                for name in rotate(list(sides), draw):
                    out.setdefault((name, shape), []).append(sides[name].fetch(shape, draw))
                bar.update()
    return out


def run(args: argparse.Namespace, work: Path) -> None:
    """Build, time and print every part."""
    lab = rows.Lab(args.sortings, args.units, args.spikes)
    print(report.header(args, lab), flush=True)
    dj, why = start_datajoint(args, work)
    try:
        labdata = LabdataSide(work / "lake", local_preferences(work / "prefs"), lab, args.fetch_units)
        labdata.fill_parents()
        files = [UnitFiles(local_store(work / "npy"), lab, args.fetch_units),
                 PhyFiles(local_store(work / "npy"), lab, args.fetch_units)]
        inserts = insert_all(lab, args, labdata, files, dj)
        shapes = ["units", "units-key", "session"] + (["session-get"] if labdata.has_spike_times_method() else [])
        fetches = fetch_all(args, shapes, labdata, files, dj, [work / "lake", work / "prefs", work / "npy"])
        labdata.close()
    finally:
        if dj is not None:
            dj.close()
    print(report.sizes(work, dj.report if dj else None, why))
    report.inserts(inserts, dj is not None, why)
    report.fetches(fetches, shapes, dj is not None, why)
    if args.no_s3:
        print("\nd) S3: skipped (--no-s3)")
    else:
        import _sorting_s3

        results, line = _sorting_s3.measure(work / "s3", args, shapes, lambda text: print(text, file=sys.stderr))
        print("\n" + line)
        report.s3(results)
    print(report.machine())


def main(argv: list[str] | None = None) -> None:
    """Run in a fresh folder under ``--path``, removed afterwards."""
    args = parse_args(argv)
    args.path.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="labdata-bench-sorting-", dir=args.path))
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
