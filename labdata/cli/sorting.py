"""``labdata sorting-import``: register a Kilosort/phy folder as the spike sorting of a recorded probe.

A flat command, as the original's commands are (``run``, ``task-reset``, ``build-container``);
the noun first, so that sorting commands added later (``sorting-...``) list together in
``labdata --help``. The probe is ``--probe`` (no short flag): ``-p`` is ``--project`` on every
command that opens a lake.
"""

from __future__ import annotations

import json
from typing import Any

import click

from labdata.cli.errors import reports_errors
from labdata.cli.options import lake_options, open_context
from labdata.core.errors import QueryError

__all__ = ["sorting_import"]


@click.command("sorting-import")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("-a", "--subject", required=True, help="Subject name.")
@click.option("-s", "--session", required=True, help="Session name.")
@click.option("-d", "--dataset", required=True, help="Dataset name (of the EphysRecording).")
@click.option("--probe", "probe_num", type=int, default=0, show_default=True, help="Probe number (imec<N>).")
@click.option("--algorithm", "algorithm_name", default="kilosort", show_default=True,
              help="Algorithm name of the parameter set (e.g. kilosort2.5, kilosort4).")
@click.option("--parameters", default=None, metavar="JSON",
              help="Parameters identifying the set, as a JSON object (default: {}).")
@click.option("--algorithm-version", default=None, help="Version of the sorter, stored with the sorting.")
@click.option("--sampling-rate", type=float, default=None,
              help="Hz, for a folder without params.py (default: the probe's rate in the lake).")
@click.option("--no-files", is_flag=True, help="Do not keep the folder's files (IntermediateFiles).")
@click.option("--waveforms-from-recording", is_flag=True,
              help="Cut the median waveforms from the raw recording in the lake (default: from the templates).")
@click.option("--metrics", is_flag=True, help="Then populate UnitMetrics and UnitCount for the sorting.")
@lake_options
@click.option("--no-progress", is_flag=True, help="Do not show the upload progress bar.")
@reports_errors
def sorting_import(folder: str, subject: str, session: str, dataset: str, probe_num: int, algorithm_name: str,
                   parameters: str | None, algorithm_version: str | None, sampling_rate: float | None,
                   no_files: bool, waveforms_from_recording: bool, metrics: bool, project: str | None,
                   lake_path: str | None, no_progress: bool) -> None:
    """Import the Kilosort/phy output FOLDER as a SpikeSorting of a probe (units, spikes, waveforms, labels).

    \b
    EXAMPLE
        labdata sorting-import /data/JC178/kilosort4 -a JC178 -s 20240115_143000 -d ephys_g0 --probe 0 \\
            --algorithm kilosort4
    """
    from labdata.catalog import use
    from labdata.schema import SpikeSorting, UnitCount, UnitMetrics

    key = dict(subject_name=subject, session_name=session, dataset_name=dataset, probe_num=probe_num)
    counts: list[dict[str, Any]] = []
    with use(open_context(lake_path, project)):
        result = SpikeSorting().add_kilosort(folder, key, algorithm_name=algorithm_name,
                                             parameters=_parameters(parameters), algorithm_version=algorithm_version,
                                             sampling_rate=sampling_rate, keep_files=not no_files,
                                             progress=not no_progress,
                                             waveforms="recording" if waveforms_from_recording else "templates")
        if metrics:
            UnitMetrics.populate(result["key"])
            UnitCount.populate(result["key"])
            counts = (UnitCount & result["key"]).fetch("unit_criteria_id", "sua", "all", as_dict=True)
    click.echo(summary(result))
    if metrics:
        click.echo(f"UnitMetrics: {result['n_units']} units; UnitCount: " + (", ".join(
            f"criteria {c['unit_criteria_id']}: {c['sua']} of {c['all']} single units" for c in counts) or
            "no criteria (add UnitCountCriteria rows)"))


def _parameters(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise QueryError(f"--parameters {text!r} is not JSON: {error.msg}.",
                         hint='Give a JSON object, e.g. --parameters \'{"thresholds": [9, 8]}\'.') from None
    if not isinstance(value, dict):
        raise QueryError(f"--parameters {text!r} is not a JSON object.", hint='e.g. --parameters \'{"nblocks": 5}\'.')
    return value


def summary(result: dict[str, Any]) -> str:
    """The lines printed after an import."""
    key = result["key"]
    where = f"{key['subject_name']}/{key['session_name']}/{key['dataset_name']} probe {key['probe_num']}"
    counted = f"{result['n_units']} units, {result['n_spikes']} spikes"
    lines = [f"imported {counted}: {where}, parameter set {key['parameter_set_num']}",
             f"kept {len(result['files'])} files"]
    for source, labels in result["labels"].items():
        counts: dict[str, int] = {}
        for label in labels.values():
            counts[label] = counts.get(label, 0) + 1
        lines.append(f"labels ({source}): " + ", ".join(f"{n} {label}" for label, n in sorted(counts.items())))
    return "\n".join(lines)
