"""The tables ``sorting.py`` prints: each side's timings, then ratios against the issue's targets.

``labdata/baseline`` is labdata's time over the baseline's (< 1: labdata
faster); ``speedup`` its inverse (baseline time / labdata time). Warm columns
are medians of the calls after the first; cold is the first call.

Not a script, used by ``sorting.py``.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import _table
from _table import print_table

__all__ = ["fetches", "header", "inserts", "machine", "s3", "sizes"]

HERE = Path(__file__).resolve().parent
LABDATA, DATAJOINT = "labdata", "DataJoint"
NPY, PHY = "np.load, a .npy per unit", "np.load, phy files per sorting"
FASTER, NEAR_NPY, REQUESTS = 10.0, 2.0, 3.0
SHAPES = {"units": "(Unit & keys).fetch('spike_times'), keys: dicts",
          "units-key": "(Unit & keys).fetch('spike_times'), keys from fetch('KEY')",
          "session": "(Unit & session).fetch(as_dict=True)",
          "session-get": "(Unit & session).get_spike_times()"}
SAVES = {NPY: "np.save, a .npy per unit and array", PHY: "np.save, phy's 4 files per sorting"}


def _ms(seconds: float) -> str:
    ms = 1e3 * seconds
    return "n/a" if ms != ms else f"{ms:.2f}" if ms < 10 else f"{ms:.1f}" if ms < 1000 else f"{ms:,.0f}"


def _met(ok: bool | None) -> str:
    return "—" if ok is None else "yes" if ok else "NO"


def header(args: Any, lab: Any) -> str:
    """What the run measures."""
    spikes = lab.total_units * lab.spikes
    one, five, _ = os.getloadavg()
    return (f"load average at the start {one:.1f} (1 min) / {five:.1f} (5 min)\n"
            f"sorting: a lab of {lab.sortings:,} sortings x {lab.units} units, ~{lab.spikes:,} spikes a unit "
            f"({lab.total_units:,} units, ~{spikes / 1e6:,.1f} M spikes, ~{spikes * 20 / 2**30:.2f} GiB of arrays: "
            f"uint64 times, float32 amplitudes, float32 N x 2 positions); insert timed on the first "
            f"{args.insert_sortings} sortings, {args.batch} sortings ({args.batch * lab.units:,} units) a call; "
            f"fetches of {args.fetch_units:,} units spread over the lab and of one session's units; "
            f"each shape 1 cold + {args.rounds} warm calls per side, the sides in turns")


def _folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def sizes(work: Path, dj: dict[str, Any] | None, why: str) -> str:
    """Sizes on disk of every side's copy of the lab."""
    lake = _folder_bytes(work / "lake") + _folder_bytes(work / "prefs")
    units, phy = _folder_bytes(work / "npy" / "units"), _folder_bytes(work / "npy" / "phy")
    text = (f"on disk: labdata lake {lake / 2**20:,.0f} MiB, .npy per unit {units / 2**20:,.0f} MiB, "
            f"phy files {phy / 2**20:,.0f} MiB")
    if dj is None:
        return text + f"\nDataJoint not run: {why}."
    how = "reused from an earlier run" if dj["cached"] else f"loaded in {dj['build_seconds']:.1f} s"
    packet = dj["max_allowed_packet_before"]
    return (text + f"\nDataJoint {dj['datajoint']} on {dj['server']} (InnoDB buffer pool "
            f"{dj['buffer_pool_bytes'] / 2**20:,.0f} MiB), schema {dj['schema']}: {how}, "
            f"{dj['bytes_on_disk'] / 2**20:,.0f} MiB; max_allowed_packet was {packet / 2**20:,.0f} MiB"
            + (", raised to 1 GiB (DataJoint's image setting) for its one-statement inserts" if packet < 2**30 else ""))


def _rate(call: dict[str, Any]) -> float:
    return float(call["units"] / call["seconds"])


def inserts(found: dict[str, list[dict[str, Any]]], has_dj: bool, why: str) -> None:
    """Part a): units/s of every side and the ratios."""
    rates = {}
    table = []
    for side, calls in found.items():
        later = [_rate(c) for c in calls[1:]] or [_rate(calls[0])]
        rates[side] = statistics.median(later)
        table.append([SAVES.get(side, f"{side} SpikeSorting.Unit.insert(rows)"), f"{sum(c['units'] for c in calls):,}",
                      f"{len(calls)}", f"{_rate(calls[0]):,.0f}", f"{rates[side]:,.0f}"])
    print_table("a) bulk insert of units with their arrays (units/s; first call, then the median of the others)",
                ["side", "units timed", "calls", "first call", "median of the rest"], table)
    compare = []
    for side in [DATAJOINT, NPY, PHY]:
        if side not in rates:
            compare.append([side, f"{rates[LABDATA]:,.0f}", f"n/a: {why}", "", "", "", ""])
            continue
        time_ratio = rates[side] / rates[LABDATA]
        target = f">= {FASTER:g}x" if side == DATAJOINT else "—"
        compare.append([SAVES.get(side, side), f"{rates[LABDATA]:,.0f}", f"{rates[side]:,.0f}", f"{time_ratio:.2f}",
                        f"{1 / time_ratio:.2f}", target, _met(1 / time_ratio >= FASTER if side == DATAJOINT else None)])
    print_table("a) insert: labdata against each baseline (median units/s of the calls after the first)",
                ["baseline", "labdata units/s", "baseline units/s", "labdata/baseline time", "speedup", "target",
                 "met?"], compare)


def _cold(calls: Sequence[dict[str, Any]]) -> float:
    return float(calls[0]["seconds"])


def _warm(calls: Sequence[dict[str, Any]]) -> float:
    return float(statistics.median(c["seconds"] for c in calls[1:])) if len(calls) > 1 else _cold(calls)


def _comparisons(shape: str) -> list[tuple[str, str, float | None, bool]]:
    """(baseline side, its shape, target, target is a speedup) for a labdata shape."""
    session = shape.startswith("session")
    base = "session" if session else "units"
    dj_shape = "units-key" if shape == "units-key" else base
    files = [(NPY, base, None if session else NEAR_NPY, False)]
    if shape != "units-key":
        files.append((PHY, base, None if session else NEAR_NPY, False))
    return [(DATAJOINT, dj_shape, FASTER, True), *files]


def fetches(found: dict[tuple[str, str], list[dict[str, Any]]], shapes: list[str], has_dj: bool, why: str) -> None:
    """Parts b) and c): every side's cold and warm times, then the ratios."""
    table = [[SHAPES.get(shape, shape), side, f"{calls[0]['rows']:,}", f"{calls[0]['spikes']:,}", _ms(_cold(calls)),
              _ms(_warm(calls))] for shape in shapes for (side, s), calls in found.items() if s == shape]
    print_table("b), c) fetches (ms; cold: first call from a fresh lake handle, files out of the page cache)",
                ["shape", "side", "rows", "spikes", "cold ms", "warm ms (median)"], table)
    compare = []
    for shape in shapes:
        lab = found[(LABDATA, shape)]
        for side, base_shape, target, speedup in _comparisons(shape):
            calls = found.get((side, base_shape))
            if calls is None:
                compare.append([SHAPES[shape], side, _ms(_warm(lab)), f"n/a: {why}", "", "", "", "", ""])
                continue
            ratio, cold = _warm(lab) / _warm(calls), _cold(lab) / _cold(calls)
            text = "—" if target is None else f">= {target:g}x" if speedup else f"labdata <= {target:g}x"
            ok = None if target is None else (1 / ratio >= target if speedup else ratio <= target)
            compare.append([SHAPES[shape], side, _ms(_warm(lab)), _ms(_warm(calls)), f"{ratio:.2f}", f"{1 / ratio:.2f}",
                            text, _met(ok), f"{cold:.2f}"])
    print_table("b), c) labdata against each baseline, warm medians (cold: ratio of the first calls)",
                ["shape", "baseline", "labdata ms", "baseline ms", "labdata/baseline", "speedup", "target", "met?",
                 "cold labdata/baseline"], compare)
    print(_same_spikes(found, shapes))


def _same_spikes(found: dict[tuple[str, str], list[dict[str, Any]]], shapes: list[str]) -> str:
    differ = []
    for shape in shapes:
        expected = [c["spikes"] for c in found[(LABDATA, shape)]]
        for side, base_shape, _, _ in _comparisons(shape):
            calls = found.get((side, base_shape))
            if calls is not None and [c["spikes"] for c in calls] != expected:
                differ.append(f"{shape} vs {side}")
    return ("same spikes (count per call) on every side" if not differ
            else "SPIKE COUNTS DIFFER: " + ", ".join(differ))


def s3(results: list[Any]) -> None:
    """Part d): time and requests per sorting touched of each side on S3."""
    table, reasons = [], []
    for r in results:
        shape = SHAPES.get(r.shape, r.shape)
        if r.reason:
            reasons += [] if r.reason in reasons else [r.reason]
            table.append([r.side, shape, *["n/a"] * 6, f"<= {REQUESTS:g}", f"n/a ({len(reasons)})"])
            continue
        cold_per, warm_per = (r.cold("requests") / r.cold("touched"), r.warm("requests") / r.warm("touched"))
        labdata = r.side == LABDATA
        met = _met(max(cold_per, warm_per) <= REQUESTS if labdata else None)
        if labdata and not r.cold("requests"):
            met = "? (no request: not read from S3)"
        methods = ", ".join(f"{m} {n}" for m, n in sorted(r.calls[0]["by_method"].items()))
        table.append([r.side, shape, f"{r.cold('touched'):.0f}", _ms(r.cold("seconds")), _ms(r.warm("seconds")),
                      methods or "none", f"{cold_per:.2f}", f"{warm_per:.2f}", f"<= {REQUESTS:g}" if labdata else "—",
                      met])
    print_table("d) from S3 (moto): time and HTTP requests per sorting touched (cold: fresh lake handle)",
                ["side", "shape", "sortings", "cold ms", "warm ms", "cold requests", "requests/sorting cold", "warm",
                 "target", "met?"], table)
    for number, reason in enumerate(reasons, 1):
        print(f"({number}) {reason}")


def machine() -> str:
    """CPUs, load and the labdata commit (the ratios are measured under the same load)."""
    return _table.machine()
