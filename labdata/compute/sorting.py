"""The ``spikeinterface`` analysis: spike sorting of each probe with a SpikeInterface sorter.

``labdata run spikeinterface -a SUBJECT -s SESSION -t local -- -m tridesclous2 -n none`` queues one task
per probe (``EphysRecording.ProbeSetting``) of the selected recordings. A task reads the probe's
compressed recording lazily from the lake (``ProbeSetting.to_spikeinterface``), bandpasses it, shifts
each channel by its ADC sample offset (``--no-phase-shift`` to skip), subtracts the global median
(``-r``), corrects motion (``-n``, SpikeInterface's ``correct_motion`` presets, each shank on its own),
writes it once as int16 to a folder in the scratch path and runs the sorter there with the sorter's own
preprocessing off. The units, with each spike's amplitude and position, are registered in one
transaction (``SpikeSorting.add_from_spikeinterface``, algorithm ``si_<sorter>``, the parameter set
holding the options that change the result), then their median waveforms, UnitMetrics and UnitCount
are made. The scratch folder is removed however the task ends.

Sorters: ``tridesclous2``, ``spykingcircus2`` and ``simple`` run on CPUs with ``pip install
'labdata[sorting]'``; ``mountainsort5``, ``herdingspikes`` and ``lupin`` with their packages;
``kilosort4`` needs a CUDA GPU: its tasks ask the scheduler for one (``--gpus=1`` under SLURM), a
submission to the ``local`` target of a machine without one is refused (nothing queued), and a task
that lands on a machine without one fails at once saying so.

A probe already sorted with the same parameter set is not queued again (§5.5); when every selected
probe is, the submission is refused.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import click

from labdata.compute.analysis import Analysis
from labdata.compute.selection import datasets_with_files
from labdata.compute.sorting_steps import (
    GPU_SORTERS,
    SORTERS,
    Log,
    curate,
    motion_problem,
    preprocess,
    sort,
    sorter_problem,
    unit_features,
)
from labdata.compute.task import RunningTask
from labdata.compute.work import Resources, Work
from labdata.core.errors import AnalysisOptionError, ComputeError, NothingToRunError, did_you_mean
from labdata.schema import EphysRecording, SpikeSorting, SpikeSortingParams, UnitCount, UnitCountCriteria, UnitMetrics
from labdata.schema.sorting_params import find_parameter_set, parameters_json

__all__ = ["SpikeInterfaceCompute", "identity_parameters"]

MOTION_PRESETS = ("dredge", "dredge_fast", "nonrigid_accurate", "nonrigid_fast_and_accurate", "rigid_fast",
                  "kilosort_like", "none")
#: the options that change a sorting's result: they make its parameter set
IDENTITY_KEYS = ("sorter_params", "low_pass", "high_pass", "phase_shift", "common_reference", "motion",
                 "remove_cross_unit_duplicates")
#: median waveforms cut per unit for the metrics (half from each half of the recording)
WAVEFORM_SPIKES = 1000


def _sorter_name(context: click.Context, parameter: click.Parameter, value: str) -> str:
    if value not in SORTERS:
        raise click.BadParameter(f"{value!r} is not a sorter this analysis runs.{did_you_mean(value, SORTERS)} "
                                 f"The sorters: {', '.join(SORTERS)}.")
    return value


def _json_object(context: click.Context, parameter: click.Parameter, value: str | None) -> dict[str, Any]:
    try:
        found = json.loads(value) if value else {}
    except json.JSONDecodeError as error:
        raise click.BadParameter(f"{value!r} is not JSON: {error.msg}.") from None
    if not isinstance(found, dict):
        raise click.BadParameter(f"{value!r} is not a JSON object of sorter parameters.")
    return found


class SpikeInterfaceCompute(Analysis):
    """Spike-sort each probe with a SpikeInterface sorter (-m tridesclous2 on CPUs, kilosort4 on a GPU)."""

    name: ClassVar[str] = "spikeinterface"
    container: ClassVar[str] = "labdata-spikeinterface"
    file_filters: ClassVar[tuple[str, ...]] = (".ap.",)
    resources: ClassVar[Resources] = Resources(cpus=4, memory="32G")
    params: ClassVar[list[click.Parameter]] = [
        click.Option(["-m", "--sorter"], default="kilosort4", show_default=True, callback=_sorter_name,
                     help=f"One of {', '.join(SORTERS)}."),
        click.Option(["--sorter-params"], default=None, callback=_json_object,
                     help='The sorter\'s own parameters as a JSON object, e.g. \'{"detect_threshold": 6}\'.'),
        click.Option(["-p", "--probe"], type=click.IntRange(0), default=None, help="Sort only this probe."),
        click.Option(["-l", "--low-pass"], type=click.FloatRange(0, min_open=True), default=300.0,
                     show_default=True, help="Lower edge of the bandpass, Hz."),
        click.Option(["-i", "--high-pass"], type=click.FloatRange(0, min_open=True), default=6000.0,
                     show_default=True, help="Upper edge of the bandpass, Hz."),
        click.Option(["--phase-shift/--no-phase-shift"], default=True, show_default=True,
                     help="Shift each channel by its ADC sample offset (from the .meta)."),
        click.Option(["-r", "--common-reference"], type=click.Choice(["global_median", "global_average", "none"]),
                     default="global_median", show_default=True),
        click.Option(["-n", "--motion"], type=click.Choice(MOTION_PRESETS), default="dredge", show_default=True,
                     help="SpikeInterface's motion-correction preset (none: Kilosort 4 corrects drift itself)."),
        click.Option(["-c", "--remove-cross-unit-duplicates"], is_flag=True,
                     help="Also remove units whose spikes are mostly another unit's."),
    ]

    @classmethod
    def parse(cls, args: Any) -> dict[str, Any]:
        """The options, with ``--sorter-params`` checked against the sorter's own parameters."""
        parameters = super().parse(args)
        _check_sorter_params(parameters["sorter"], parameters["sorter_params"])
        if parameters["high_pass"] <= parameters["low_pass"]:
            raise AnalysisOptionError(f"The bandpass {parameters['low_pass']:g}-{parameters['high_pass']:g} Hz is "
                                      "empty.", hint="Give -l/--low-pass below -i/--high-pass, e.g. -l 300 -i 6000.")
        return parameters

    @classmethod
    def resources_for(cls, parameters: Mapping[str, Any]) -> Resources:
        """A GPU for the GPU sorters (Kilosort 4), none for the others."""
        gpus = 1 if parameters.get("sorter") in GPU_SORTERS else 0
        return Resources(cls.resources.cpus, gpus, cls.resources.memory, cls.resources.time, cls.resources.partition)

    def check_target(self, parameters: Mapping[str, Any], target: str) -> None:
        """A task for this machine (``local``) needs its sorter to run here: refuse it before queueing."""
        if target != "local":
            return
        problem = sorter_problem(parameters["sorter"]) or motion_problem(parameters["motion"])
        if problem:
            raise AnalysisOptionError(f"Cannot sort on this machine: {problem}.",
                                      hint="Choose a CPU sorter (-m tridesclous2) and motion preset (-n none, "
                                           "-n nonrigid_accurate), install what is missing, or submit to a target "
                                           "whose machines have it (-t slurm).")

    def find_work(self, context: Any, subject: str | None, session: str | None,
                  parameters: Mapping[str, Any]) -> list[Work]:
        """One unit of work per probe of the selected recordings not yet sorted with this parameter set."""
        work, sorted_already = [], []
        for dataset in datasets_with_files(context, subject, session, self.file_filters):
            recording = dict(dataset.dataset or {})
            probes = (EphysRecording.ProbeSetting(context) & recording).fetch("probe_num", order_by="probe_num")
            for probe in probes:
                if parameters.get("probe") is not None and int(probe) != parameters["probe"]:
                    continue
                key = dict(recording, probe_num=int(probe))
                if sorting_of(context, key, parameters) is not None:
                    sorted_already.append(key)
                    continue
                files = [f for f in dataset.files if f"imec{int(probe)}." in Path(f["file_path"]).name]
                work.append(Work(recording, files, {"probe_num": int(probe)}))
        if not work:
            raise NothingToRunError(_nothing_to_sort(parameters, sorted_already),
                                    hint="Delete the sorting first ((SpikeSorting & key).delete()) to sort it again, "
                                         "or change the options." if sorted_already else
                                         "Check -p/--probe and that the recording was uploaded with the ephys rule.")
        return work

    def compute(self, task: RunningTask) -> None:
        """Sort the task's probe and register the sorting, its waveforms, UnitMetrics and UnitCount."""
        parameters, context = task.parameters, task.context
        if task.dataset is None:
            raise ComputeError("A spikeinterface task needs a dataset.", hint="Submit it with -a SUBJECT -s SESSION.")
        key = dict(task.dataset, probe_num=int(parameters["probe_num"]))
        log = _timed(task.log)
        found = sorting_of(context, key, parameters)
        if found is not None:
            raise ComputeError(f"{key} is sorted already with this parameter set ({found}).",
                               hint="Delete that sorting first to sort it again.")
        problem = sorter_problem(parameters["sorter"]) or motion_problem(parameters["motion"])
        if problem:
            raise ComputeError(f"Cannot sort on this machine: {problem}.",
                               hint="Run the task where the sorter is installed (a GPU node for kilosort4).")
        scratch = Path(context.prefs().scratch_path) / f"spikeinterface_task{task.job_id}"
        try:
            sorting_key = self._sort(task, key, scratch, log)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        self._after_sorting(task, sorting_key, log)

    def _sort(self, task: RunningTask, key: dict[str, Any], scratch: Path, log: Log) -> dict[str, Any]:
        """Preprocess, sort and register; returns the SpikeSorting key."""
        from spikeinterface.core import set_global_job_kwargs

        parameters, context = task.parameters, task.context
        set_global_job_kwargs(n_jobs=_n_jobs(self.resources.cpus), pool_engine="thread", progress_bar=False)
        recording = (EphysRecording.ProbeSetting(context) & key).to_spikeinterface("ap")
        log(f"probe {key['probe_num']}: {recording.get_num_channels()} channels, "
            f"{recording.get_total_duration():.1f} s, read from the lake")
        prepared = preprocess(recording, parameters, log)
        sorting, sorted_copy = sort(prepared, parameters["sorter"], parameters["sorter_params"], parameters["motion"],
                                    scratch, f"filtered_recording.imec{key['probe_num']}", log)
        sorting = curate(sorting, parameters["remove_cross_unit_duplicates"], log)
        analyzer = unit_features(sorting, sorted_copy, log)
        sorting_key = SpikeSorting(context).add_from_spikeinterface(
            sorting, key, algorithm_name=f"si_{parameters['sorter']}", parameters=identity_parameters(parameters),
            recording=sorted_copy, analyzer=analyzer,
            parameter_description=f"labdata run spikeinterface -m {parameters['sorter']}")
        log(f"registered {sorting.get_num_units()} units as {sorting_key}")
        return sorting_key

    def _after_sorting(self, task: RunningTask, sorting_key: dict[str, Any], log: Log) -> None:
        """Median waveforms, UnitMetrics and UnitCount of the registered sorting."""
        context = task.context
        written = (SpikeSorting(context) & sorting_key).extract_waveforms(max_spikes=WAVEFORM_SPIKES)
        log(f"{written} median waveforms")
        if not len(UnitCountCriteria(context)):
            log("no UnitCountCriteria: UnitCount has nothing to count")
        for table in (UnitMetrics, UnitCount):
            result = table(context).populate(sorting_key, suppress_errors=True)
            if result.errors:
                raise ComputeError(f"{table.__name__} of {sorting_key} failed: {result.errors[0][1]}",
                                   hint=f"The sorting is registered; make it with `labdata run populate "
                                        f"{table.__name__}` once the cause is fixed.")
            log(f"{table.__name__}: {len(table(context) & sorting_key)} rows")


def identity_parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The options that make a sorting's parameter set (the sorter is in the algorithm name)."""
    return {name: parameters[name] for name in IDENTITY_KEYS}


def sorting_of(context: Any, key: Mapping[str, Any], parameters: Mapping[str, Any]) -> int | None:
    """The parameter set number of the sorting of probe ``key`` with these options, if there is one."""
    number = find_parameter_set(SpikeSortingParams(context), f"si_{parameters['sorter']}",
                                parameters_json(identity_parameters(parameters)))
    if number is None or not SpikeSorting(context) & dict(key, parameter_set_num=number):
        return None
    return number


def _check_sorter_params(sorter: str, given: Mapping[str, Any]) -> None:
    """Refuse parameter names the sorter does not have (Kilosort 4 lists them only where it is installed)."""
    from spikeinterface.sorters import get_default_sorter_params, sorter_dict

    if not given or (sorter in GPU_SORTERS and not sorter_dict[sorter].is_installed()):
        return
    known = list(get_default_sorter_params(sorter))
    unknown = [name for name in given if name not in known]
    if unknown:
        raise AnalysisOptionError(f"{sorter} has no parameter {unknown[0]!r}.{did_you_mean(unknown[0], known)}",
                                  hint=f"Its parameters: {', '.join(known)}.")


def _nothing_to_sort(parameters: Mapping[str, Any], sorted_already: list[dict[str, Any]]) -> str:
    if sorted_already:
        return (f"Every selected probe is sorted already with si_{parameters['sorter']} and these options "
                f"(e.g. {sorted_already[0]}).")
    return f"No probe {parameters['probe']} in the selected recordings."


def _timed(log: Log) -> Log:
    """``log`` with the seconds since the task's sorting began before each line."""
    start = time.monotonic()
    return lambda message: log(f"[{time.monotonic() - start:7.1f} s] {message}")


def _n_jobs(cpus: int) -> int:
    """Threads of SpikeInterface's chunked steps: the scheduler's CPUs (LABDATA_N_JOBS), at most this machine's."""
    wanted = int(os.environ.get("LABDATA_N_JOBS") or cpus)
    return max(1, min(wanted, os.cpu_count() or 1))
