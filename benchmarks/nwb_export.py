"""NWB export: labdata's ``export_nwb`` from the lake against NeuroConv from the raw files, time and peak memory.

In a temporary folder (``--path``), the benchmark builds the demo's lake (``_nwb_setup.py``) with a
synthetic NP1.0 recording (385 channels, AP at 30 kHz, ``--seconds`` long, default 60) put and uploaded
with the ``ephys`` rule (stored as a compressed ``.zarr.zip``), and a Kilosort/phy folder of its simulated
units imported with ``SpikeSorting.add_kilosort``; the set-up's steps are timed and printed, not compared.
Then, side by side in one run, each export in a fresh child process (so that its peak RSS, read from
``VmHWM`` at its end, is its own; ``wait4``'s ``ru_maxrss`` would carry this process's):

* NeuroConv: ``SpikeGLXRecordingInterface`` (``imec0.ap``) + ``KiloSortSortingInterface`` on the raw
  ``.ap.bin`` and the Kilosort folder, ``ConverterPipe.run_conversion`` to HDF5 with NeuroConv's defaults
  (``_nwb_neuroconv.py``, run with ``--nc-python``);
* labdata: ``export_nwb`` of the session (raw AP read chunk by chunk from the lake, units with median
  waveforms and metrics columns) to HDF5 with labdata's default storage of the raw samples, and again with
  ``--compression`` (default ``gzip:4``, NeuroConv's: like with like) and to NWB-Zarr (``--no-zarr`` skips).

The table gives the export's own seconds (the child's imports and set-up left out), the whole process's
seconds, its peak RSS, the file's size, how its raw dataset is stored, and the ratios to NeuroConv
(``<= 1``: the target). Targets (issue 16): time and memory <= 1x NeuroConv; a 60 s 385-channel export
under 500 MB of peak RSS.

Usage::

    python benchmarks/nwb_export.py                 # 60 s
    python benchmarks/nwb_export.py --quick         # 2 s, the test suite's smoke run (no NeuroConv needed)

NeuroConv lives outside the project's venv::

    python3 -m venv /tmp/ncvenv && /tmp/ncvenv/bin/pip install "neuroconv[spikeglx,phy]"
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _nwb_setup import BuiltLake, build_lake  # noqa: E402
from _table import machine, print_table  # noqa: E402

DEFAULT_NC_PYTHON = "/tmp/ncvenv/bin/python"
NEUROCONV = "NeuroConv (raw .bin + Kilosort folder)"
MEMORY_TARGET_MB = 500


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the recording")
    parser.add_argument("--quick", action="store_true", help="smoke test: a 2 s recording")
    parser.add_argument("--path", type=Path, default=Path(tempfile.gettempdir()),
                        help="where the run's temporary folder goes (on disk)")
    parser.add_argument("--nc-python", default=os.environ.get("LABDATA_BENCH_NC_PYTHON", DEFAULT_NC_PYTHON),
                        help="interpreter with NeuroConv")
    parser.add_argument("--no-neuroconv", action="store_true", help="labdata's side only")
    parser.add_argument("--compression", default="gzip:4",
                        help="labdata's like-with-like row: HDF5 filter of the raw samples, e.g. gzip:4, gzip:1")
    parser.add_argument("--no-zarr", action="store_true", help="skip the NWB-Zarr export")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds = 2.0
    return args


def run_child(command: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``command`` to its end; its last stdout line (JSON, with the child's own peak RSS: ``_peak_rss.py``)
    and its wall seconds."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        child = subprocess.Popen(command, cwd=HERE, stdout=out, stderr=err, env=env)
        child.wait()
        wall = time.perf_counter() - started
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{stderr[-3000:]}")
    return json.loads(stdout.strip().splitlines()[-1]) | {"wall": wall}


def neuroconv_python(args: argparse.Namespace) -> tuple[str | None, str]:
    """NeuroConv's interpreter, or None and why not."""
    if args.no_neuroconv:
        return None, "skipped (--no-neuroconv)"
    if not Path(args.nc_python).exists():
        return None, (f"no interpreter at {args.nc_python}; create it with: python3 -m venv /tmp/ncvenv && "
                      "/tmp/ncvenv/bin/pip install \"neuroconv[spikeglx,phy]\" (or pass --nc-python)")
    probe = subprocess.run([args.nc_python, "-c", "import neuroconv"], capture_output=True, text=True, check=False)
    if probe.returncode:
        return None, f"{args.nc_python} cannot import neuroconv: {probe.stderr.strip().splitlines()[-1]}"
    return args.nc_python, ""


def sides(args: argparse.Namespace, lake: BuiltLake, out: Path) -> dict[str, list[str]]:
    """Each side's label and command line."""
    labdata = [sys.executable, str(HERE / "_nwb_labdata.py"), str(lake.root), str(lake.preferences)]
    commands = {"labdata export_nwb, HDF5 (default)": [*labdata, str(out / "labdata")]}
    if args.compression:
        commands[f"labdata export_nwb, HDF5 {args.compression}"] = [
            *labdata, str(out / "labdata-compressed"), "--compression", args.compression]
    if not args.no_zarr:
        commands["labdata export_nwb, NWB-Zarr"] = [*labdata, str(out / "labdata-zarr"), "--zarr"]
    return commands


def size_mb(path: Path) -> float:
    """A file's size, or a folder's files' together, in MB."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6
    return path.stat().st_size / 1e6


def raw_storage(path: Path) -> str:
    """How the raw samples are stored: the largest dataset's filter and chunk shape."""
    if path.is_dir():
        return _zarr_storage(path)
    import h5py

    found: list[Any] = []
    with h5py.File(path, "r") as file:
        file.visititems(lambda _, item: found.append(item) if isinstance(item, h5py.Dataset) else None)
        dataset = max(found, key=lambda item: item.size * item.dtype.itemsize)
        filters = "+".join(f for f in ("shuffle",) if dataset.shuffle) or ""
        compression = f"{dataset.compression}:{dataset.compression_opts}" if dataset.compression else "none"
        return f"{filters + '+' if filters else ''}{compression}, chunks {dataset.chunks}"


def _zarr_storage(path: Path) -> str:
    arrays = [(p.parent, json.loads(p.read_text())) for p in path.rglob(".zarray")]
    _, meta = max(arrays, key=lambda item: size_mb(item[0]))
    compressor = meta.get("compressor") or {}
    name = compressor.get("cname") or compressor.get("id", "none")
    level = compressor.get("clevel", compressor.get("level", ""))
    return f"{compressor.get('id', 'none')}/{name}:{level}, chunks {tuple(meta['chunks'])}"


def measure(args: argparse.Namespace, lake: BuiltLake, out: Path) -> tuple[dict[str, dict[str, Any]], str]:
    """Run every side once in its own process; their results by label, and why NeuroConv did not run."""
    python, why = neuroconv_python(args)
    results: dict[str, dict[str, Any]] = {}
    if python is not None:
        nc_file = out / "neuroconv" / "neuroconv.nwb"
        nc_file.parent.mkdir(parents=True)
        print(f"running {NEUROCONV} ...", file=sys.stderr)
        results[NEUROCONV] = run_child([python, str(HERE / "_nwb_neuroconv.py"), str(lake.run_folder),
                                        str(lake.kilosort), str(nc_file)],
                                       env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    for label, command in sides(args, lake, out).items():
        print(f"running {label} ...", file=sys.stderr)
        results[label] = run_child(command)
    return results, why


def report(args: argparse.Namespace, lake: BuiltLake, results: dict[str, dict[str, Any]], why: str) -> None:
    """Print the set-up's steps and the comparison table."""
    print_table(f"set-up (not compared): {args.seconds:g} s, 385 channels, {lake.n_units} units, "
                f"{lake.n_spikes:,} spikes", ["step", "s"], [[k, f"{v:.1f}"] for k, v in lake.seconds.items()])
    base = results.get(NEUROCONV)
    rows = []
    for label, result in results.items():
        path = Path(result["path"])
        ratios = ["n/a", "n/a"] if base is None else [f"{result['seconds'] / base['seconds']:.2f}",
                                                       f"{result['rss_mb'] / base['rss_mb']:.2f}"]
        rows.append([label, f"{result['seconds']:.1f}", f"{result['wall']:.1f}", f"{result['rss_mb']:.0f}",
                     f"{size_mb(path):.0f}", raw_storage(path), *ratios])
    print_table(f"NWB export of a {args.seconds:g} s 385-channel recording with its sorting, each side in its "
                f"own process", ["side", "export s", "process s", "peak RSS MB", "file MB", "raw samples stored",
                                 "time / NeuroConv", "RSS / NeuroConv"], rows)
    if base is None:
        print(f"NeuroConv: {why}")
    else:
        print(f"NeuroConv {base['version']}; targets: time and peak RSS <= 1x NeuroConv; "
              f"peak RSS < {MEMORY_TARGET_MB} MB for 60 s")
    print(machine())


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    args.path.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="labdata-bench-nwb-", dir=args.path))
    try:
        print(f"building the lake: {args.seconds:g} s recording, put, upload, Kilosort import ...", file=sys.stderr)
        lake = build_lake(work / "lake", args.seconds)
        out = work / "exports"
        results, why = measure(args, lake, out)
        report(args, lake, results, why)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
