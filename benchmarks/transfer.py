"""Benchmark: put and get throughput of labdata's S3 store against boto3's TransferManager.

On one moto S3 server on 127.0.0.1 (its own process), for files of several
sizes, side by side in the same run, the puts then the gets of each repeat
in an order that rotates from repeat to repeat:

* put: ``Store.put`` (MD5 computed while the bytes stream; 8 MiB parts on 10
  threads, each with its CRC32, as TransferManager sends them) against ``boto3``
  ``upload_file`` (TransferManager, default config: 8 MiB threshold, 10 threads,
  no MD5);
* get: ``Store.get(md5=..., size=...)`` (both known from the File row, so no HEAD;
  ranged GETs in parallel, MD5 verified) against ``download_file`` (HEAD, then GETs);
* the MD5's cost: the same labdata transfer with ``checksum=False``.

Ratios are labdata / boto3 throughput (target >= 0.8) and checksum / no
checksum time. moto keeps objects in memory and answers from Python, so absolute
MB/s are moto's, not S3's; both sides pay the same server. moto stands in for a
remote S3, so it runs on its own CPU (the first) and the clients on the others:
sharing a 2-core machine, the client's MD5 (~400 MB/s of one core) took CPU from
the server and turned a client cost into a server slowdown that S3 would not show
(measured: boto3 without threads reaches the same 114 MB/s as labdata with them).

Run from the repository root (venv active)::

    python benchmarks/transfer.py [--sizes-mb 8 64 512] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from _table import print_table  # noqa: E402
from labdata.stores import StorageSettings, Store, store_for  # noqa: E402
from labdata.stores.transfer import download_s3, upload_s3  # noqa: E402
from s3server import S3Server  # noqa: E402

TARGET = 0.8


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[8, 64, 512], help="file sizes in MiB")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed repeats per size and side (median; a multiple of 3 puts each side first as often)")
    return parser.parse_args()


def make_file(path: Path, mib: int) -> Path:
    rng = np.random.default_rng(mib)
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(rng.integers(0, 256, 1 << 20, dtype="uint8").tobytes())
    return path


def timed(call) -> float:  # noqa: ANN001
    """Seconds of ``call()``, started with nothing left to write back: the previous get's file would
    otherwise be flushed to disk during the next transfer (the first put of each repeat paid for it)."""
    os.sync()
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def measure(store: Store, client, bucket: str, source: Path, work: Path, repeats: int) -> dict[str, float]:  # noqa: ANN001
    """Median seconds of each transfer of ``source``: the puts, then the gets, in a rotating order."""
    size = source.stat().st_size
    md5 = store.put(source, "warm/x").md5
    sides = {
        "labdata put": lambda: store.put(source, "ld/x"),
        "boto3 put": lambda: client.upload_file(str(source), bucket, "b3/x"),
        "labdata put, no MD5": lambda: upload_s3(store.client, bucket, "nc/x", source, checksum=False),
        "labdata get": lambda: store.get("ld/x", work / "ld.bin", md5=md5, size=size),  # both from File
        "boto3 get": lambda: client.download_file(bucket, "b3/x", str(work / "b3.bin")),
        "labdata get, no MD5": lambda: download_s3(store.fs, bucket, "nc/x", work / "nc.bin", size=size,
                                                   expected_md5=None, checksum=False),
    }
    times: dict[str, list[float]] = {name: [] for name in sides}
    for call in sides.values():  # warm-up: connections, first objects
        call()
    puts, gets = list(sides)[:3], list(sides)[3:]
    for repeat in range(repeats):
        for group in (puts, gets):  # each side takes its turn first: the first put follows the gets,
            for name in group[repeat % 3:] + group[:repeat % 3]:  # whose garbage moto is still clearing
                times[name].append(timed(sides[name]))
    return {name: statistics.median(values) for name, values in times.items()}


def rows_for(mib: int, t: dict[str, float]) -> list[list[str]]:
    rows = []
    for verb in ("put", "get"):
        ours, theirs, bare = t[f"labdata {verb}"], t[f"boto3 {verb}"], t[f"labdata {verb}, no MD5"]
        ratio = theirs / ours
        rows.append([f"{mib} MiB", verb, f"{mib / ours:,.0f}", f"{mib / theirs:,.0f}", f"{ratio:.2f}",
                     "yes" if ratio >= TARGET else "NO", f"{mib / bare:,.0f}", f"{100 * (ours / bare - 1):+.0f}%"])
    return rows


def pin_server_to_its_own_cpu(server: S3Server) -> None:
    """Run moto on the first CPU and this process on the others (when there are at least two)."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2:
        os.sched_setaffinity(server.process.pid, {cpus[0]})
        os.sched_setaffinity(0, set(cpus[1:]))


def main() -> None:
    args = parse_args()
    server = S3Server()
    pin_server_to_its_own_cpu(server)
    try:
        client = server.client()
        bucket = "bench"
        client.create_bucket(Bucket=bucket)
        store = store_for(StorageSettings("bench", "s3", bucket, "", server.endpoint, "test", "test"))
        rows = []
        with tempfile.TemporaryDirectory() as folder:
            work = Path(folder)
            for mib in args.sizes_mb:
                print(f"transfer: {mib} MiB ...", file=sys.stderr, flush=True)
                source = make_file(work / f"{mib}.bin", mib)
                rows += rows_for(mib, measure(store, client, bucket, source, work, args.repeats))
                source.unlink()
        print_table(f"transfer: moto S3 on 127.0.0.1, median of {args.repeats}; MB/s = MiB per second; "
                    "ratio = labdata / boto3 throughput (target >= 0.8); MD5 cost = labdata with / without MD5",
                    ["file", "op", "labdata MB/s", "boto3 MB/s", "ratio", "met?", "labdata no-MD5 MB/s", "MD5 cost"],
                    rows)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
