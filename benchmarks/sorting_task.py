"""The ``spikeinterface`` analysis on a 60 s x 32-channel ground-truth recording: agreement and time per step.

A SpikeInterface ground-truth recording (10 units, NP1.0 geometry) is put in a fresh SQLite lake as a
compressed SpikeGLX recording (``tests/compute/sorting_world.py``), sorted by ``labdata run spikeinterface``
as a task of the chosen runner, and the registered sorting is compared with the ground truth
(``spikeinterface.comparison.compare_sorter_to_ground_truth``): accuracy, precision and recall per
ground-truth unit, and the worker's log (seconds since the start of each step).

Usage::

    python benchmarks/sorting_task.py [--seconds 60] [--channels 32] [--sorter tridesclous2] [--target local]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE.parent / "tests" / "compute"))

from sorting_world import PROBE, SUBJECT, agreement, sorting_world, summary  # noqa: E402

from labdata.catalog import Lake, use  # noqa: E402
from labdata.compute import queue_rows, submit  # noqa: E402
from labdata.schema import SpikeSorting, UnitCount, UnitMetrics  # noqa: E402
from templates import copy_sqlite_lake, mark_ensured  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--sorter", default="tridesclous2")
    parser.add_argument("--target", default="local")
    parser.add_argument("--options", nargs="*", default=["-n", "none"], help="more options of the analysis")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        copy_sqlite_lake(root / "lake", "bench", people=True)
        lake = mark_ensured(Lake("sqlite", root / "lake"), "bench")
        start = time.perf_counter()
        world = sorting_world(root, lake, "bench", duration=args.seconds, n_channels=args.channels)
        print(f"ground truth: {args.seconds:g} s x {args.channels} channels, {world.truth.sorting.get_num_units()} "
              f"units, written and put in the lake in {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        result = submit("spikeinterface", context=world.context, subject=SUBJECT, target=args.target,
                        args=["-m", args.sorter, *args.options], runner_settings={"cpus": 2, "memory": "8G"},
                        wait=args.target != "slurm")  # SLURM jobs outlive this process; polled below
        _wait(world.context, result.job_ids)
        print(f"task ({args.target}, {args.sorter}): {time.perf_counter() - start:.1f} s")
        [row] = [r for r in queue_rows(world.context, reap=False) if r["job_id"] in result.job_ids]
        log = root / "labdata" / "logs" / f"spikeinterface_{row['job_id']}.log"
        print("".join(line for line in log.read_text().splitlines(keepends=True) if line.startswith("[task")))
        if row["task_status"] != "COMPLETED":
            raise SystemExit(f"the task ended {row['task_status']}: {row['task_log']}")
        with use(world.context):
            key = (SpikeSorting & PROBE).fetch1("KEY")
            performance = agreement(world.truth, (SpikeSorting & key).to_spikeinterface())
            print(f"units: {len(SpikeSorting.Unit & key)}, UnitMetrics rows: {len(UnitMetrics & key)}, "
                  f"UnitCount: {(UnitCount & key).fetch('all', 'sua', 'mua', as_dict=True)}")
        print(performance.round(3).to_string())
        print(summary(performance))
        lake.close()


def _wait(context, job_ids, timeout: float = 3600) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while True:
        statuses = [r["task_status"] for r in queue_rows(context, reap=False) if r["job_id"] in job_ids]
        if set(statuses) <= {"COMPLETED", "FAILED", "CANCELLED"} or time.monotonic() > deadline:
            return
        time.sleep(2)


if __name__ == "__main__":
    main()
