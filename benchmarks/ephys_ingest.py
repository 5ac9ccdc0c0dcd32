"""SpikeGLX ingestion: our verified ``.zarr.zip`` against mtscomp, and window reads against ``np.memmap``.

For a synthetic NP1.0 recording (385 channels, default 60 s) and every real imec
``.bin`` in ``../shared/data/spikeglx`` (the files the ``ephys`` rule compresses; the
NI-DAQ files are uploaded as they are), side by side in one run:

* compression ratio (raw bytes / stored bytes) of our ``.zarr.zip`` (less its copy of the
  ``.meta``) and of mtscomp's ``.cbin`` + ``.ch`` (the original's codec, 1 s chunks);
  target: ours >= mtscomp's;
* ingest throughput (raw MB/s): ours = compress + write + decompress-and-compare every
  chunk + MD5 of the output; mtscomp = ``compress(..., check_after_compress=True)`` as the
  original ran it, with one thread per CPU; target: ours >= 10 x mtscomp's;
* time to read a random 1 s x 384-channel window (recordings of at least 1 s): ours
  through :class:`RawRecording` against ``np.array(memmap[start:stop, :384])`` of the raw
  file, both from the page cache ("warm") and with the file dropped from the page cache
  before each read ("cold", ``posix_fadvise(DONTNEED)``, a fresh map or open per read: the
  case of recordings larger than memory); target: ours <= 2 x memmap's.

Usage::

    python benchmarks/ephys_ingest.py [--seconds 60] [--repeats 10] [--ingest-repeats N] [--no-real]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _table import print_table  # noqa: E402
from labdata.converters.spikeglx.compression import compress_bin  # noqa: E402
from labdata.converters.spikeglx.meta import read_meta  # noqa: E402
from labdata.converters.spikeglx.reader import RawRecording  # noqa: E402
from labdata.converters.spikeglx.synthetic import write_recording  # noqa: E402

SHARED = HERE.parents[1] / "shared" / "data" / "spikeglx"
WINDOW_CHANNELS = 384


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the synthetic recording")
    parser.add_argument("--repeats", type=int, default=10, help="random windows read per recording (median)")
    parser.add_argument("--no-real", action="store_true", help="skip the real files")
    parser.add_argument("--ingest-repeats", type=int, default=None,
                        help="timed ingests per codec and file (median; default 1 above 100 MB, else 7)")
    return parser.parse_args()


def real_bins() -> list[Path]:
    """Every distinct imec .bin of the shared data (identical copies measured once)."""
    seen, found = set(), []
    for path in sorted(SHARED.rglob("*.bin")):
        if ".imec" in path.name and path.with_suffix(".meta").exists():
            digest = (path.stat().st_size, path.read_bytes()[:65536])
            if digest not in seen:
                seen.add(digest)
                found.append(path)
    return found


def timed(call) -> float:  # noqa: ANN001
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


#: ``--ingest-repeats``: timed ingests per codec and file (None: :func:`ingest_repeats` decides by size)
INGEST_REPEATS: int | None = None


def ingest_repeats(size: int) -> int:
    """Timed runs of each codec's ingest (median): one for a long recording, more for the stubs."""
    if INGEST_REPEATS is not None:
        return INGEST_REPEATS
    return 1 if size > 100e6 else 7


def ours(path: Path, meta, work: Path) -> tuple[float, int, Path]:  # noqa: ANN001
    """Seconds and stored bytes; the copy of the .meta in the attributes is not counted (the
    .meta is stored beside both codecs' outputs), the rest of the zip is."""
    target = work / (path.stem + ".zarr.zip")
    seconds = statistics.median(timed(lambda: compress_bin(path, meta, destination=target, check_meta=False))
                                for _ in range(ingest_repeats(path.stat().st_size)))
    with zipfile.ZipFile(target) as archive:
        attributes = archive.getinfo(".zattrs").compress_size
    return seconds, target.stat().st_size - attributes, target


def mtscomp_baseline(path: Path, meta, work: Path) -> tuple[float, int]:  # noqa: ANN001
    import mtscomp

    cbin, ch = work / (path.stem + ".cbin"), work / (path.stem + ".ch")
    n_samples = path.stat().st_size // (2 * meta.n_saved_channels)
    clipped = path
    if path.stat().st_size % (2 * meta.n_saved_channels):  # mtscomp needs whole samples
        clipped = work / path.name
        clipped.write_bytes(path.read_bytes()[: n_samples * 2 * meta.n_saved_channels])
    seconds = statistics.median(
        timed(lambda: mtscomp.compress(str(clipped), str(cbin), str(ch), sample_rate=meta.sampling_rate,
                                       n_channels=meta.n_saved_channels, dtype=np.int16, check_after_compress=True,
                                       n_threads=os.cpu_count() or 1, quiet=True))
        for _ in range(ingest_repeats(path.stat().st_size)))
    return seconds, cbin.stat().st_size + ch.stat().st_size


def drop_from_cache(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(descriptor)


def window_times(raw: Path, zipped: Path, n_channels: int, rate: float, repeats: int) -> dict[str, float]:
    """Median ms of a random 1 s x 384 window: ours and memmap, warm and cold."""
    n_samples = raw.stat().st_size // (2 * n_channels)
    width = int(rate)
    starts = np.random.default_rng(0).integers(0, n_samples - width, repeats)
    times: dict[str, list[float]] = {k: [] for k in ("ours warm", "memmap warm", "ours cold", "memmap cold")}
    _warm_reads(raw, zipped, n_channels, starts, width, times)  # its memory map is closed when it returns
    for start in starts:
        window = slice(int(start), int(start) + width)
        drop_from_cache(raw)
        times["memmap cold"].append(timed(lambda: np.array(
            np.memmap(raw, dtype="<i2", mode="r").reshape(-1, n_channels)[window, :WINDOW_CHANNELS])))  # noqa: B023 - timed() calls it at once
        drop_from_cache(zipped)
        times["ours cold"].append(timed(lambda: RawRecording.open(zipped)[window, :WINDOW_CHANNELS]))  # noqa: B023
    return {k: 1e3 * statistics.median(v) for k, v in times.items()}


def _warm_reads(raw: Path, zipped: Path, n_channels: int, starts: np.ndarray, width: int,
                times: dict[str, list[float]]) -> None:
    reader = RawRecording.open(zipped)
    mapped = np.memmap(raw, dtype="<i2", mode="r").reshape(-1, n_channels)
    for start in starts:
        window = slice(int(start), int(start) + width)
        times["memmap warm"].append(timed(lambda: np.array(mapped[window, :WINDOW_CHANNELS])))  # noqa: B023 - called at once
        times["ours warm"].append(timed(lambda: reader[window, :WINDOW_CHANNELS]))  # noqa: B023


def measure(path: Path, work: Path, repeats: int, label: str) -> list[str]:
    meta = read_meta(path.with_suffix(".meta"))
    size = path.stat().st_size
    our_seconds, our_size, zipped = ours(path, meta, work)
    their_seconds, their_size = mtscomp_baseline(path, meta, work)
    ratio, their_ratio = size / our_size, size / their_size
    speed = their_seconds / our_seconds
    row = [label, f"{size / 1e6:.1f}", f"{ratio:.2f}", f"{their_ratio:.2f}", _met(ratio >= their_ratio),
           f"{size / 1e6 / our_seconds:.0f}", f"{size / 1e6 / their_seconds:.1f}", f"{speed:.1f}", _met(speed >= 10)]
    duration = size / (2 * meta.n_saved_channels) / meta.sampling_rate
    if duration >= 1.5 and meta.n_saved_channels > WINDOW_CHANNELS:
        ms = window_times(path, zipped, meta.n_saved_channels, meta.sampling_rate, repeats)
        row += [f"{ms['ours warm']:.1f} / {ms['memmap warm']:.1f}", _met(ms["ours warm"] <= 2 * ms["memmap warm"]),
                f"{ms['ours cold']:.1f} / {ms['memmap cold']:.1f}", _met(ms["ours cold"] <= 2 * ms["memmap cold"])]
    else:
        row += ["-", "-", "-", "-"]
    for leftover in work.iterdir():
        if leftover.is_file():
            leftover.unlink()
    return row


def _met(ok: bool) -> str:
    return "yes" if ok else "NO"


def main() -> None:
    global INGEST_REPEATS  # noqa: PLW0603 - a script's option, read by the timing helper
    args = parse_args()
    INGEST_REPEATS = args.ingest_repeats
    rows = []
    with tempfile.TemporaryDirectory(dir=HERE.parent) as folder:  # on disk, not tmpfs: cold reads hit the disk
        work = Path(folder) / "work"
        work.mkdir()
        print(f"ephys_ingest: writing a {args.seconds:g} s synthetic NP1.0 recording ...", file=sys.stderr, flush=True)
        synthetic = write_recording(Path(folder) / "synthetic_g0", duration=args.seconds, drift_ppm=0.0,
                                    with_nidq=False).files[0]
        rows.append(measure(synthetic, work, args.repeats, f"synthetic NP1.0 {args.seconds:g} s"))
        for path in [] if args.no_real else real_bins():
            print(f"ephys_ingest: {path.name} ...", file=sys.stderr, flush=True)
            rows.append(measure(path, work, args.repeats, path.name))
    print_table("ephys_ingest: our .zarr.zip vs mtscomp (ratio, ingest MB/s incl. verification) and 1 s x 384 "
                "window reads vs np.memmap (median ms, ours / memmap)",
                ["file", "MB", "ratio", "mtscomp", "met?", "ours MB/s", "mtscomp MB/s", "x", "met?",
                 "window warm", "met?", "window cold", "met?"], rows)


if __name__ == "__main__":
    main()
