"""DataJoint 0.14 side of ``compute.py``: a cheap computed table populated with ``reserve_jobs=True``.

Run by ``compute.py`` with an interpreter that has ``datajoint<2`` (``/tmp/djvenv/bin/python``)::

    python benchmarks/_compute_dj.py setup --keys 1000 --schema labdata_bench_compute
    python benchmarks/_compute_dj.py populate --schema labdata_bench_compute   # one per worker process
    python benchmarks/_compute_dj.py drop --schema labdata_bench_compute

``setup`` (re)creates the schema with ``--keys`` items and an empty ``Square``; ``populate`` is one
worker: ``Square.populate(reserve_jobs=True)``, printing one JSON line (keys made, seconds); ``check``
prints the rows of ``Square``. The same table as ``_compute_tables.BenchSquare``: make reads the item's
value and inserts one row.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any


def tables(schema_name: str, host: str) -> tuple[Any, Any, Any]:
    """Connect and declare Item and Square in ``schema_name``; return (schema, Item, Square)."""
    import datajoint as dj

    dj.config.update({"database.host": host, "database.user": "root", "database.password": "",
                      "database.use_tls": False, "safemode": False, "loglevel": "WARNING"})
    dj.logger.setLevel("WARNING")
    schema = dj.Schema(schema_name)

    @schema
    class Item(dj.Manual):
        definition = """
        item_id : int
        ---
        value : int
        """

    @schema
    class Square(dj.Computed):
        definition = """
        -> Item
        ---
        square : bigint
        """

        def make(self, key: dict) -> None:
            value = (Item & key).fetch1("value")
            self.insert1(dict(key, square=value * value))

    return schema, Item, Square


def main(argv: list[str] | None = None) -> None:
    """setup, populate, check or drop (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["setup", "populate", "check", "drop"])
    parser.add_argument("--schema", required=True)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    schema, item, square = tables(args.schema, args.host)
    if args.action in ("setup", "drop"):
        schema.drop(force=True)
        if args.action == "setup":
            schema, item, square = tables(args.schema, args.host)
            item.insert([dict(item_id=i, value=i) for i in range(args.keys)])
        print(json.dumps({"ok": True}))
    elif args.action == "populate":
        start = time.perf_counter()
        result = square.populate(reserve_jobs=True)
        print(json.dumps({"made": result["success_count"], "seconds": time.perf_counter() - start}))
    else:
        print(json.dumps({"rows": len(square()), "jobs": len(schema.jobs)}))


if __name__ == "__main__":
    main()
