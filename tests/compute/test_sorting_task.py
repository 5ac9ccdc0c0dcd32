"""The ``spikeinterface`` analysis end to end: a ground-truth recording in the lake is sorted by a worker.

A SpikeInterface ground-truth recording (20 s, 32 channels of an NP1.0 probe, 10 units; the 60 s run
whose agreement the closing note gives is ``benchmarks/sorting_task.py``) is put in a lake as a
compressed SpikeGLX recording. ``submit("spikeinterface", ..., target="local")`` sorts it with SpikeInterface's
`simple` sorter (the fastest; tridesclous2's agreement is the benchmark's) in a worker process, which reads the
recording from the lake; the test checks the queue
(COMPLETED), the registered sorting (units with spike times, amplitudes and positions, median
waveforms, UnitMetrics, UnitCount), the agreement with the ground truth (SpikeInterface's comparison,
printed), that the scratch folder is gone, and that the same options are refused for a probe sorted
already. The same sort as a SLURM job or a Dask task is `benchmarks/sorting_task.py --target slurm|dask`
(the runners themselves are tested with populate tasks in test_queue.py and test_dask_runner.py).
Bad options queue nothing; a task that fails (a bandpass above the Nyquist frequency) registers nothing
and leaves no scratch folder.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sorting_world import PROBE, SUBJECT, SortingWorld, agreement, sorting_world, summary

from labdata.catalog import Lake, use
from labdata.compute import queue_rows, submit
from labdata.core.errors import AnalysisOptionError, NothingToRunError
from labdata.schema import ComputeTask, SpikeSorting, SpikeSortingParams, UnitCount, UnitMetrics
from templates import copy_sqlite_lake, mark_ensured

pytest.importorskip("hdbscan", reason="the sorting extra (pip install 'labdata[sorting]') is not installed")

PROJECT = "test_project"
OPTIONS = ["-m", "simple", "-n", "none"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SortingWorld]:
    root = tmp_path_factory.mktemp("sorting_task")
    copy_sqlite_lake(root / "lake", PROJECT, people=True)
    lake = mark_ensured(Lake("sqlite", root / "lake"), PROJECT)
    world = sorting_world(root, lake, PROJECT, duration=20.0)
    assert len(ComputeTask(world.context)) == 0  # the queue's tables exist before a worker opens the lake
    yield world
    lake.close()


def _sorting_key(world: SortingWorld, algorithm: str, parameters_like: str) -> dict:
    sets = (SpikeSortingParams(world.context) & {"algorithm_name": algorithm}
            & f"parameters_dict LIKE '{parameters_like}'")
    [number] = sets.fetch("parameter_set_num")
    return dict(PROBE, parameter_set_num=int(number))


def _check_sorted(world: SortingWorld, sorting_key: dict, target: str) -> None:
    context = world.context
    row = (SpikeSorting(context) & sorting_key).fetch1()
    units = (SpikeSorting.Unit(context) & sorting_key).fetch(as_dict=True)
    assert row["n_sorted_units"] == len(units) > 0
    assert list(row["sorting_channel_indices"]) == list(range(32))
    assert all(len(u["spike_times"]) and u["spike_amplitudes"] is not None
               and len(u["spike_amplitudes"]) == len(u["spike_times"]) for u in units)
    assert all(u["spike_positions"].shape == (len(u["spike_times"]), 2) for u in units)
    assert len(SpikeSorting.Waveforms(context) & sorting_key) == len(units)
    assert len(UnitMetrics(context) & sorting_key) == len(units)
    assert len(UnitCount(context) & sorting_key) >= 1
    with use(context):
        performance = agreement(world.truth, (SpikeSorting & sorting_key).to_spikeinterface())
    print(f"\n{target}: {OPTIONS[1]} on {world.truth.duration:g} s x 32 channels, {len(units)} units\n"
          f"{performance.round(3).to_string()}\n{summary(performance)}")
    assert (performance["accuracy"] > 0.5).sum() >= 5, performance
    assert not any((world.root / "scratch").glob("spikeinterface_task*")), "the scratch folder was left behind"


def test_bad_options_are_refused_and_queue_nothing(world: SortingWorld) -> None:
    cases = [(["-m", "tridesclous"], "Did you mean 'tridesclous2'"),
             (["-m", "tridesclous2", "--sorter-params", '{"detect_treshold": 6}'], "Did you mean 'detect_threshold'"),
             (["-m", "tridesclous2", "--sorter-params", "[1]"], "not a JSON object"),
             (["-m", "tridesclous2", "-n", "dredg"], "dredg"),
             (["-m", "tridesclous2", "-l", "7000"], "bandpass 7000-6000 Hz is empty"),
             (["-m", "kilosort4", "-n", "none"], "kilosort4")]
    for args, text in cases:
        if args[1] == "kilosort4" and _has_cuda():
            continue
        with pytest.raises(AnalysisOptionError, match=text) as raised:
            submit("spikeinterface", context=world.context, subject=SUBJECT, target="local", args=args)
        assert raised.value.hint
    with pytest.raises(NothingToRunError, match="No probe 3"):
        submit("spikeinterface", context=world.context, subject=SUBJECT, target="local", args=[*OPTIONS, "-p", "3"])
    assert len(ComputeTask(world.context)) == 0


def test_a_task_that_fails_registers_nothing_and_leaves_no_scratch(world: SortingWorld) -> None:
    before = len(SpikeSorting(world.context)), len(SpikeSortingParams(world.context))
    result = submit("spikeinterface", context=world.context, subject=SUBJECT, target="local",
                    args=[*OPTIONS, "-i", "20000"])
    [row] = [r for r in queue_rows(world.context, reap=False) if r["job_id"] in result.job_ids]
    assert row["task_status"] == "FAILED" and "Nyquist frequency (15000 Hz)" in row["task_log"]
    assert "-i/--high-pass below 15000" in row["task_log"]
    assert (len(SpikeSorting(world.context)), len(SpikeSortingParams(world.context))) == before
    assert not any((world.root / "scratch").glob("spikeinterface_task*"))


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def test_a_local_worker_sorts_the_recording_from_the_lake(world: SortingWorld) -> None:
    result = submit("spikeinterface", context=world.context, subject=SUBJECT, target="local", args=OPTIONS)
    [row] = [r for r in queue_rows(world.context, reap=False) if r["job_id"] in result.job_ids]
    assert row["task_status"] == "COMPLETED", row["task_log"]
    _check_sorted(world, _sorting_key(world, f"si_{OPTIONS[1]}", '%"motion": "none"%'), "local")
    with pytest.raises(NothingToRunError, match="sorted already"):
        submit("spikeinterface", context=world.context, subject=SUBJECT, target="local", args=OPTIONS, force=True)


def test_cross_unit_duplicates_are_removed_only_when_asked() -> None:
    from spikeinterface.core import NumpySorting, generate_sorting

    from labdata.compute.sorting_steps import curate

    source = generate_sorting(num_units=4, durations=[10.0], seed=0)
    trains = {int(unit): source.get_unit_spike_train(unit) for unit in source.unit_ids}
    trains[99] = trains[0][::2]  # half of unit 0's spikes: a duplicate of it
    sorting = NumpySorting.from_unit_dict([trains], source.get_sampling_frequency())
    assert list(curate(sorting, False, print).unit_ids) == [0, 1, 2, 3, 99]
    assert list(curate(sorting, True, print).unit_ids) == [0, 1, 2, 3]
