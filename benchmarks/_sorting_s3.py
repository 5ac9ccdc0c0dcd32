"""Part d) of ``sorting.py``: the fetches from S3, with the HTTP requests each one makes.

A moto server runs in its own process (this file run as a script prints its
URL, then serves), behind a WSGI middleware that counts every request it
receives by method (``LIST`` for a GET on a bucket with a list query); a GET
of ``/__requests__`` returns the counts as JSON (``?reset=1`` then clears
them) and is not counted. Counting in the server sees every request of every
client (s3fs, aiobotocore, boto3, zarr through fsspec) without touching them.

:func:`measure` gives a lake preferences whose ``storage.data`` and
``storage.analysis`` are folders of a bucket on that server (``raw/`` and
``analysis/``), inserts the first sorting's units, and looks in the bucket: if
the insert put no object there, the arrays did not go through the preferences'
storage and every labdata row is ``n/a`` with that reason. Otherwise it inserts
the rest of the S3 lab and times each fetch shape from a fresh lake handle
(cold) and then warm, with the requests of each call. The ``.npy`` baselines
(:mod:`_sorting_files`, one object per unit and array, or phy's files per
sorting, read with boto3's ``get_object``) run on the same server either way.

Not a script for users (``sorting.py`` runs it); ``python _sorting_s3.py``
only starts the counting server.
"""

from __future__ import annotations

import io
import json
import logging
import statistics
import subprocess
import sys
import threading
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CountingServer", "S3Result", "measure"]

CONTROL = "/__requests__"
BUCKET = "labdata-bench-sorting"


class _Counting:
    """WSGI middleware: counts requests by method; ``GET /__requests__[?reset=1]`` answers the counts."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app, self.counts, self.lock = app, Counter[str](), threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") == CONTROL:
            with self.lock:
                body = json.dumps(dict(self.counts)).encode()
                if "reset" in environ.get("QUERY_STRING", ""):
                    self.counts.clear()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        method = environ.get("REQUEST_METHOD", "?")
        path = environ.get("PATH_INFO", "").strip("/")
        if method == "GET" and "/" not in path and "list-type" in environ.get("QUERY_STRING", ""):
            method = "LIST"
        with self.lock:
            self.counts[method] += 1
        return self.app(environ, start_response)


def serve() -> None:
    """Run moto behind the counting middleware on 127.0.0.1 (a free port); print its URL."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request on stderr

    app = _Counting(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


class CountingServer:
    """The counting moto server as a subprocess."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, str(Path(__file__).resolve())], stdout=subprocess.PIPE,
                                        text=True)
        self.endpoint = (self.process.stdout.readline() if self.process.stdout else "").strip()
        if not self.endpoint.startswith("http://"):
            self.stop()
            raise RuntimeError(f"the counting moto server did not start ({self.endpoint!r})")

    def requests(self, *, reset: bool = False) -> dict[str, int]:
        """Requests received since the last reset, by method."""
        with urllib.request.urlopen(self.endpoint + CONTROL + ("?reset=1" if reset else "")) as answer:
            return dict(json.loads(answer.read()))

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="test",
                            aws_secret_access_key="test", region_name="us-east-1")

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


@dataclass
class S3Result:
    """One side's shape on S3: cold call, warm calls, each with its requests and sortings touched."""

    side: str
    shape: str
    reason: str | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)

    def cold(self, key: str) -> float:
        return float(self.calls[0][key])

    def warm(self, key: str) -> float:
        return float(statistics.median(c[key] for c in self.calls[1:])) if len(self.calls) > 1 else float("nan")


def s3_preferences(folder: Path, endpoint: str) -> Any:
    """Local preferences (``_sorting_lab.local_preferences``) with ``data`` and ``analysis`` on the bucket."""
    from _sorting_lab import local_preferences

    prefs = local_preferences(folder)
    for storage, prefix in (("data", "raw"), ("analysis", "analysis")):
        prefs.set(f"storage.{storage}", {"protocol": "s3", "endpoint": endpoint, "bucket": BUCKET, "folder": prefix,
                                         "access_key": "test", "secret_key": "test"})
    prefs.set("catalog.arrays_storage", "analysis")  # each sorting's spike group goes to the bucket
    return prefs


def _objects(client: Any) -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    return [item["Key"] for page in pages for item in page.get("Contents", ())]


def _touched(lab: Any, shape: str, draw: int, fetch_units: int) -> int:
    import _sorting_rows as rows

    if shape.startswith("session"):
        return 1
    return len({s for s, _ in rows.sample_units(lab, fetch_units, draw)})


def _timed(server: CountingServer, side: Any, lab: Any, shape: str, draw: int, fetch_units: int) -> dict[str, Any]:
    server.requests(reset=True)
    result = side.fetch(shape, draw)
    counts = server.requests()
    return result | {"requests": sum(counts.values()), "by_method": counts,
                     "touched": _touched(lab, shape, draw, fetch_units)}


def _labdata(server: CountingServer, folder: Path, lab: Any, args: Any, shapes: list[str]) -> Iterator[S3Result]:
    import _sorting_rows as rows
    from _sorting_lab import LabdataSide

    side = LabdataSide(folder / "lake", s3_preferences(folder / "prefs", server.endpoint), lab, args.fetch_units)
    try:
        side.fill_parents()
        side.insert(rows.units(lab, 0))
        stored = _objects(server.client())
        if not stored:
            reason = (f"n/a: SpikeSorting.Unit.insert put no object in s3://{BUCKET} (storage.data and "
                      "storage.analysis of the context's preferences): the arrays stay in the lake's own folder")
            yield from (S3Result("labdata", shape, reason) for shape in shapes)
            return
        for start in range(1, lab.sortings, args.batch):
            side.insert([r for i in range(start, min(start + args.batch, lab.sortings)) for r in rows.units(lab, i)])
        for shape in shapes:
            side.reopen()
            calls = [_timed(server, side, lab, shape, draw, args.fetch_units) for draw in range(1 + args.s3_rounds)]
            yield S3Result("labdata", shape, calls=calls)
    finally:
        side.close()


def _baselines(server: CountingServer, lab: Any, args: Any) -> Iterator[S3Result]:
    import _sorting_rows as rows
    from _sorting_files import FileStore, PhyFiles, UnitFiles, npy_bytes

    client = server.client()

    def get(key: str) -> np.ndarray:
        return np.load(io.BytesIO(client.get_object(Bucket=BUCKET, Key=f"npy/{key}")["Body"].read()))

    store = FileStore(lambda key, array: client.put_object(Bucket=BUCKET, Key=f"npy/{key}", Body=npy_bytes(array)),
                      get)
    for files in (UnitFiles(store, lab, args.fetch_units), PhyFiles(store, lab, args.fetch_units)):
        for i in range(lab.sortings):
            files.save(i, rows.unit_arrays(lab, i))
        for shape in ("units", "session"):
            calls = [_timed(server, files, lab, shape, draw, args.fetch_units) for draw in range(1 + args.s3_rounds)]
            yield S3Result(files.label, shape, calls=calls)


def measure(folder: Path, args: Any, shapes: list[str], progress: Callable[[str], None]) -> tuple[list[S3Result], str]:
    """Run part d) in ``folder``; return the results and a line on the server and its counting."""
    import _sorting_rows as rows

    lab = rows.Lab(args.s3_sortings, args.units, args.spikes)
    server = CountingServer()
    try:
        server.client().create_bucket(Bucket=BUCKET)
        progress(f"S3: labdata on {lab.sortings} sortings")
        results = list(_labdata(server, folder, lab, args, shapes))
        progress("S3: the .npy baselines")
        results += list(_baselines(server, lab, args))
    finally:
        server.stop()
    line = (f"S3: moto server at {server.endpoint} (its own process), {lab.sortings:,} sortings x {lab.units} units; "
            "requests counted by a WSGI middleware in front of moto (every client's requests, by method)")
    return results, line


if __name__ == "__main__":
    serve()
