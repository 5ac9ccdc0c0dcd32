"""DataJoint 0.14 side of ``catalog_query.py``: the same rows and shapes on MariaDB.

Run by ``catalog_query.py`` with an interpreter that has ``datajoint<2``
(e.g. ``/tmp/djvenv/bin/python``, made with
``python -m venv /tmp/djvenv && /tmp/djvenv/bin/pip install "datajoint<2" numpy pandas pymysql``)::

    /tmp/djvenv/bin/python benchmarks/_dj_baseline.py --scale 0.05 --definitions defs.json

It declares the tables of ``--definitions`` (labdata's own definition strings,
exported by ``_lab_catalog.dj_definitions``) with DataJoint classes in the
schema ``labdata_bench_dj``, loads the rows of :mod:`_lab_rows` at ``--scale``
with ``LOAD DATA LOCAL INFILE`` (DataJoint's insert of millions of rows is too
slow; blobs are packed with ``datajoint.blob.pack`` so DataJoint can fetch
them), then times the shapes of :mod:`_shapes` and prints one JSON object
(timings, row counts, build time, server) to stdout. With ``--serve`` it
prints the build report, then times one round of each shape whose key (and
round) arrives on stdin and answers with one JSON line, so that the caller can
alternate the two sides round by round. The loaded schema is
kept and reused when it holds the expected rows (``--rebuild`` reloads it).
Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

import numpy as np

import _lab_rows as rows
import _shapes

SCHEMA = "labdata_bench_dj"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, required=True)
    parser.add_argument("--definitions", required=True, help="JSON from _lab_catalog.dj_definitions()")
    parser.add_argument("--repeats", type=float, default=1.0, help="multiplier of the repeats per shape")
    parser.add_argument("--probes", type=int, default=60)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--user", default="root")
    parser.add_argument("--password", default="")
    parser.add_argument("--schema", default=SCHEMA, help="MariaDB schema to load and query")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--serve", action="store_true", help="after loading, time the shapes named on stdin")
    return parser.parse_args(argv)


def connect(args: argparse.Namespace) -> Any:
    """Configure and open DataJoint's connection."""
    import datajoint as dj

    dj.config.update({"database.host": args.host, "database.user": args.user,
                      "database.password": args.password, "database.use_tls": False, "safemode": False,
                      "loglevel": "WARNING"})
    dj.logger.setLevel("WARNING")
    return dj.conn(reset=True)


def declare(definitions: list[dict[str, Any]], name: str) -> types.SimpleNamespace:
    """Declare labdata's definitions as DataJoint classes; return them by name."""
    import datajoint as dj

    tiers = {"manual": dj.Manual, "lookup": dj.Lookup, "imported": dj.Imported, "computed": dj.Computed}
    context: dict[str, Any] = {}
    schema = dj.Schema(name, context=context)
    for item in definitions:
        body: dict[str, Any] = {"definition": item["definition"], "__module__": __name__}
        if item["contents"]:
            body["contents"] = [tuple(r) for r in item["contents"]]
        if item["tier"] in ("imported", "computed"):
            body["make"] = lambda self, key: None
        for part, definition in item["parts"].items():
            body[part] = type(part, (dj.Part,), {"definition": definition, "__module__": __name__})
        cls = schema(type(item["name"], (tiers[item["tier"]],), body))
        context[item["name"]] = cls
    return types.SimpleNamespace(schema=schema, **context)


def _target(t: types.SimpleNamespace, name: str) -> Any:
    owner, _, part = name.partition(".")
    cls = getattr(t, owner)
    return getattr(cls, part) if part else cls


def _text(values: np.ndarray) -> list[str]:
    if values.dtype.kind == "M":
        return [v.replace("T", " ") for v in np.datetime_as_string(values)]
    if values.dtype.kind == "b":
        return ["1" if v else "0" for v in values]
    if values.dtype.kind == "f":
        return [repr(float(v)) if values.dtype.itemsize == 8 else str(v) for v in values]
    return [str(v) for v in values]


def load(args: argparse.Namespace, t: types.SimpleNamespace) -> tuple[float, bool]:
    """Load the rows of ``args.scale`` unless the schema holds them; return (seconds, cached)."""
    import datajoint as dj
    import pymysql
    from tqdm import tqdm

    size = rows.sizes(args.scale)
    expected = {"Subject": size.subjects, "Session": size.sessions, "File": size.files, "UnitMetrics": size.units,
                "SpikeSorting.Unit": size.units, "DecisionTask": size.sessions, "UnitCount": size.sessions}
    if not args.rebuild and all(len(_target(t, n)()) == c for n, c in expected.items()):
        return 0.0, True
    if any(len(_target(t, n)()) for n in expected):
        t.schema.drop(force=True)
        t = declare(json.loads(Path(args.definitions).read_text()), args.schema)
    start = time.perf_counter()
    db = pymysql.connect(host=args.host, user=args.user, password=args.password, database=args.schema,
                         local_infile=True, autocommit=False)
    total = sum(size.units if "Unit" in n else size.files for n in ("File", "DataFiles", "Unit", "UnitMetrics"))
    with db.cursor() as cursor, tempfile.TemporaryDirectory() as tmp, \
            tqdm(total=total, desc=f"datajoint: loading scale {args.scale:g}", unit="row", unit_scale=True,
                 file=sys.stderr) as progress:
        cursor.execute("SET foreign_key_checks = 0, unique_checks = 0")
        for name, columns in rows.tables(args.scale):
            table = _target(t, name)
            arrays = {k: v for k, v in columns.items() if not isinstance(v, rows.Blob)}
            sets = ", ".join(f"`{k}` = UNHEX('{dj.blob.pack(v.value).hex()}')"
                             for k, v in columns.items() if isinstance(v, rows.Blob))
            path = Path(tmp) / "rows.tsv"
            with path.open("w") as out:
                out.writelines("\t".join(r) + "\n" for r in zip(*(_text(v) for v in arrays.values()), strict=True))
            names = ", ".join(f"`{k}`" for k in arrays)
            cursor.execute(f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE {table.full_table_name} "
                           f"FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n' ({names})"
                           + (f" SET {sets}" if sets else ""))
            db.commit()
            progress.update(len(next(iter(arrays.values()))) if name in (
                "File", "Dataset.DataFiles", "SpikeSorting.Unit", "UnitMetrics") else 0)
        cursor.execute("SET foreign_key_checks = 1, unique_checks = 1")
        for name in ("subject", "session", "dataset", "file", "__unit_metrics", "spike_sorting__unit"):
            cursor.execute(f"ANALYZE TABLE `{name}`")
            cursor.fetchall()
    db.close()
    return time.perf_counter() - start, False


def server_info(connection: Any, schema: str) -> dict[str, Any]:
    """MariaDB version, buffer pool and the schema's size on disk."""
    version = connection.query("SELECT VERSION()").fetchone()[0]
    pool = connection.query("SELECT @@innodb_buffer_pool_size").fetchone()[0]
    size = connection.query("SELECT SUM(data_length + index_length) FROM information_schema.tables "
                            "WHERE table_schema = %s", args=(schema,)).fetchone()[0]
    return {"server": f"MariaDB {version}", "buffer_pool_bytes": int(pool), "bytes_on_disk": int(size or 0)}


def main(argv: list[str] | None = None) -> int:
    """Load, then time every shape (one JSON object) or, with ``--serve``, the shapes asked on stdin."""
    import datajoint as dj

    args = parse_args(argv)
    connection = connect(args)
    definitions = json.loads(Path(args.definitions).read_text())
    t = declare(definitions, args.schema)
    build_seconds, cached = load(args, t)
    t = declare(definitions, args.schema)
    probes = rows.sample_keys(args.scale, args.probes)
    shapes = {s.key: s for s in _shapes.shapes(t, _shapes.DATAJOINT, args.repeats)}
    report = {"datajoint": dj.__version__, "scale": args.scale, "build_seconds": build_seconds, "cached": cached,
              "schema": args.schema, **server_info(connection, args.schema)}
    if args.serve:  # one line per shape key on stdin, one JSON result per line on stdout
        print(json.dumps(report), flush=True)
        for line in sys.stdin:  # "<key> <round> <rounds>"
            if line.strip():
                key, round_, rounds = line.split()
                print(json.dumps(_shapes.run(shapes[key], probes, part=(int(round_), int(rounds)))), flush=True)
        return 0
    report["results"] = {key: _shapes.run(shape, probes) for key, shape in shapes.items()}
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("DJ_SUPPORT_FILEPATH_MANAGEMENT", "FALSE")
    sys.exit(main())
