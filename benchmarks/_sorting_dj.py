"""DataJoint 0.14 side of ``sorting.py``: the same units inserted into and fetched from MariaDB.

Run by ``sorting.py`` with an interpreter that has ``datajoint<2`` (e.g.
``/tmp/djvenv/bin/python``)::

    /tmp/djvenv/bin/python benchmarks/_sorting_dj.py --sortings 1000 --definitions defs.json --serve

It declares labdata's own definition strings (``--definitions``, from
``sorting.py``) as DataJoint classes, so ``SpikeSorting.Unit`` has the same key
and ``longblob`` columns on both sides. It loads the lab of :mod:`_sorting_rows`
into the schema ``--schema`` with DataJoint's own ``insert`` (packed blobs, one
multi-row ``INSERT`` per batch; only the fetches are timed there), unless the
schema already holds the expected units, which later runs reuse (``--rebuild``
reloads it). It then prints one JSON line (build report) and answers the
requests ``sorting.py`` sends on stdin, one JSON line each, so that the sides
take turns under the same machine load:

* ``insert-setup N`` -- a scratch schema ``<schema>_insert`` with the parents of N sortings;
* ``insert B`` -- time ``SpikeSorting.Unit.insert(rows)`` of batch B (rows made before the clock starts);
* ``insert-done`` -- drop the scratch schema;
* ``fetch SHAPE DRAW`` -- time one fetch shape (``units``, ``units-key``, ``session``) on draw DRAW.

DataJoint's insert sends one statement per call: a batch of 1,000 units with
their arrays is ~40 MB, above MariaDB's default ``max_allowed_packet`` (16 MB),
so the global value is raised to 1 GiB, the setting of DataJoint's own MySQL
image (``datajoint/mysql``). Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import types
from pathlib import Path
from typing import Any

import _sorting_rows as rows
from _dj_baseline import declare

PACKET = 1 << 30
SCHEMA = "labdata_bench_sorting"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sortings", type=int, required=True)
    parser.add_argument("--units", type=int, default=50)
    parser.add_argument("--spikes", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=20, help="sortings per insert call")
    parser.add_argument("--fetch-units", type=int, default=1000, help="units of the lab-wide fetch")
    parser.add_argument("--definitions", required=True, help="JSON of labdata's definitions (from sorting.py)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--schema", default=SCHEMA)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--serve", action="store_true", help="answer the requests on stdin (see the docstring)")
    return parser.parse_args(argv)


def connect(host: str) -> tuple[Any, dict[str, Any]]:
    """Raise ``max_allowed_packet`` for new connections, then open DataJoint's connection."""
    import datajoint as dj
    import pymysql

    admin = pymysql.connect(host=host, user="root", password="")
    with admin.cursor() as cursor:
        cursor.execute("SELECT @@global.max_allowed_packet, VERSION(), @@innodb_buffer_pool_size")
        packet, version, pool = cursor.fetchone()
        if int(packet) < PACKET:
            cursor.execute(f"SET GLOBAL max_allowed_packet = {PACKET}")
    admin.close()
    dj.config.update({"database.host": host, "database.user": "root", "database.password": "",
                      "database.use_tls": False, "safemode": False, "loglevel": "WARNING"})
    dj.logger.setLevel("WARNING")
    info = {"datajoint": dj.__version__, "server": f"MariaDB {version}", "buffer_pool_bytes": int(pool),
            "max_allowed_packet_before": int(packet)}
    return dj.conn(reset=True), info


def _table(t: types.SimpleNamespace, name: str) -> Any:
    owner, _, part = name.partition(".")
    cls = getattr(t, owner)
    return getattr(cls, part) if part else cls


def fill_parents(t: types.SimpleNamespace, lab: rows.Lab) -> None:
    """Insert the rows above the units (DataJoint's insert, small)."""
    for name, values in lab.parents():
        _table(t, name).insert(values, allow_direct_insert=True, skip_duplicates=True)


def batches(lab: rows.Lab, size: int) -> list[range]:
    """The sortings of each insert call."""
    return [range(b, min(b + size, lab.sortings)) for b in range(0, lab.sortings, size)]


def batch_rows(lab: rows.Lab, sortings: range) -> list[dict[str, Any]]:
    """The unit rows of some sortings."""
    return [r for i in sortings for r in rows.units(lab, i)]


def load(args: argparse.Namespace, definitions: list[dict[str, Any]]) -> tuple[types.SimpleNamespace, float, bool]:
    """Declare ``--schema`` and load the lab unless it holds it; return (tables, seconds, cached)."""
    from tqdm import tqdm

    lab = rows.Lab(args.sortings, args.units, args.spikes)
    t = declare(definitions, args.schema)
    if not args.rebuild and len(t.SpikeSorting.Unit()) == lab.total_units and _same_first_unit(t, lab):
        return t, 0.0, True
    t.schema.drop(force=True)
    t = declare(definitions, args.schema)
    start = time.perf_counter()
    fill_parents(t, lab)
    with tqdm(total=lab.total_units, desc=f"datajoint: loading {lab.sortings:,} sortings", unit="unit",
              unit_scale=True, file=sys.stderr) as progress:
        for sortings in batches(lab, args.batch):
            values = batch_rows(lab, sortings)
            t.SpikeSorting.Unit.insert(values)
            progress.update(len(values))
    return t, time.perf_counter() - start, False


def _same_first_unit(t: types.SimpleNamespace, lab: rows.Lab) -> bool:
    expected = rows.units(lab, 0)[0]
    key = {k: v for k, v in expected.items() if not k.startswith("spike_")}
    found = (t.SpikeSorting.Unit & key).fetch("spike_times")
    return len(found) == 1 and len(found[0]) == len(expected["spike_times"])


class Server:
    """Answers the requests of ``sorting.py`` (see the module docstring)."""

    def __init__(self, args: argparse.Namespace, definitions: list[dict[str, Any]], t: types.SimpleNamespace) -> None:
        self.args, self.definitions, self.t = args, definitions, t
        self.lab = rows.Lab(args.sortings, args.units, args.spikes)
        self.scratch: types.SimpleNamespace | None = None
        self.scratch_lab: rows.Lab | None = None

    def answer(self, line: str) -> dict[str, Any]:
        """Do one request and return its JSON-able answer."""
        command, *values = line.split()
        if command == "insert-setup":
            self.scratch_lab = rows.Lab(int(values[0]), self.args.units, self.args.spikes)
            self.scratch = declare(self.definitions, self.args.schema + "_insert")
            self.scratch.schema.drop(force=True)
            self.scratch = declare(self.definitions, self.args.schema + "_insert")
            fill_parents(self.scratch, self.scratch_lab)
            return {"ok": True}
        if command == "insert":
            return self.insert(int(values[0]))
        if command == "insert-done":
            if self.scratch is not None:
                self.scratch.schema.drop(force=True)
            return {"ok": True}
        return self.fetch(values[0], int(values[1]))

    def insert(self, batch: int) -> dict[str, Any]:
        """Time ``SpikeSorting.Unit.insert`` of one batch into the scratch schema."""
        assert self.scratch is not None and self.scratch_lab is not None, "insert-setup first"
        values = batch_rows(self.scratch_lab, batches(self.scratch_lab, self.args.batch)[batch])
        start = time.perf_counter()
        self.scratch.SpikeSorting.Unit.insert(values)
        return {"seconds": time.perf_counter() - start, "units": len(values)}

    def fetch(self, shape: str, draw: int) -> dict[str, Any]:
        """Time one fetch shape; return seconds, rows and spikes."""
        unit = self.t.SpikeSorting.Unit
        if shape == "session":
            _, key = rows.session_keys(self.lab, draw)
            start = time.perf_counter()
            found = (unit & key).fetch(as_dict=True)
            seconds = time.perf_counter() - start
            return {"seconds": seconds, "rows": len(found), "spikes": sum(len(r["spike_times"]) for r in found)}
        keys = rows.unit_keys(self.lab, rows.sample_units(self.lab, self.args.fetch_units, draw))
        if shape == "units-key":
            keys = (unit & keys).fetch("KEY")
        start = time.perf_counter()
        times = (unit & keys).fetch("spike_times")
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "rows": len(times), "spikes": int(sum(len(t) for t in times))}


def main(argv: list[str] | None = None) -> int:
    """Load (or reuse) the lab, print the build report, then serve the requests on stdin."""
    args = parse_args(argv)
    connection, info = connect(args.host)
    definitions = json.loads(Path(args.definitions).read_text())
    t, seconds, cached = load(args, definitions)
    connection.query(f"ANALYZE TABLE `{args.schema}`.`spike_sorting__unit`").fetchall()  # for its size below
    size = connection.query("SELECT SUM(data_length + index_length) FROM information_schema.tables "
                            "WHERE table_schema = %s", args=(args.schema,)).fetchone()[0]
    print(json.dumps({**info, "schema": args.schema, "build_seconds": seconds, "cached": cached,
                      "bytes_on_disk": int(size or 0)}), flush=True)
    server = Server(args, definitions, t)
    for line in sys.stdin if args.serve else ():
        if line.strip():
            print(json.dumps(server.answer(line)), flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("DJ_SUPPORT_FILEPATH_MANAGEMENT", "FALSE")
    sys.exit(main())
