"""What an NWB export holds besides probes and units: procedures, acquisition boards' analog inputs, trials, regions.

* :func:`surgery_text` — the subject's procedures up to the session (type, date, who, metadata) and the probe
  insertions among them, as NWB's free-text ``surgery`` field.
* :func:`analog_streams` — the analog inputs (MN, MA, XA) of each NI-DAQ / OneBox ``.bin`` of the session,
  one :class:`~labdata.converters.nwb.AnalogStream` per gain, read a block of rows at a time from a local copy.
* :func:`trials_of` — the trials of the session's DecisionTask trial sets, one row per trial with its task
  variables (response, correctness, intensity, reaction time, block, assistance, trial set); a trial lasts
  until the next one starts (the lake records initiation times only).
* :func:`electrode_locations` — each electrode's brain region from ProbeBrainRegion, when the probe was placed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from labdata.catalog.engine.context import Context
from labdata.converters.nwb import AnalogStream, ExtraColumn, TrialsExport
from labdata.converters.spikeglx.binary import InterleavedBinary
from labdata.converters.spikeglx.meta import read_meta
from labdata.schema._registry import registry

__all__ = ["analog_streams", "electrode_locations", "surgery_text", "table_of", "trials_of"]

_BOARDS = ("nidq", "obx")
_TRIAL_VARIABLES = {
    "response_values": "the subject's response (left 1, none 0, right -1)",
    "correct_values": "whether the response was correct (1, 0, NaN without a response)",
    "intensity_values": "the stimulus intensity",
    "reaction_times": "time from stimulus to response (s)",
    "block_values": "the block the trial belongs to",
    "assisted": "whether the trial was assisted",
}


def table_of(context: Context, name: str) -> Any:
    """The declared table ``name`` bound to ``context``."""
    return registry.get(name)(context)


def surgery_text(context: Context, subject_name: str, until: Any) -> str | None:
    """The subject's procedures up to ``until`` (the session start), one line each; None when there are none."""
    procedures = table_of(context, "Procedure") & {"subject_name": subject_name}
    rows = sorted((r for r in procedures.fetch(as_dict=True) if until is None or r["procedure_datetime"] <= until),
                  key=lambda r: r["procedure_datetime"])
    if not rows:
        return None
    insertions = {(r["procedure_type"], r["procedure_datetime"]): r for r in
                  (table_of(context, "ProbeInsertion") & {"subject_name": subject_name}).fetch(as_dict=True)}
    return "\n".join(_procedure_line(row, insertions.get((row["procedure_type"], row["procedure_datetime"])))
                     for row in rows)


def _procedure_line(row: Mapping[str, Any], insertion: Mapping[str, Any] | None) -> str:
    line = f"{row['procedure_datetime']:%Y-%m-%d %H:%M} {row['procedure_type']} by {row['user_name']}"
    if row.get("procedure_metadata"):
        line += f": {json.dumps(row['procedure_metadata'], default=str, sort_keys=True)}"
    if insertion is not None:
        line += (f"; probe {insertion['probe_id']} inserted at AP {insertion['insertion_ap']:g} um, "
                 f"ML {insertion['insertion_ml']:g} um, depth {insertion['insertion_depth']:g} um, "
                 f"elevation {insertion['insertion_el']:g} deg, azimuth {insertion['insertion_az']:g} deg")
    return line


def analog_streams(context: Context, key: Mapping[str, Any], synced: bool) -> list[AnalogStream]:
    """The analog inputs of the session's NI-DAQ / OneBox files (fetched into ``local_paths`` if needed)."""
    files = table_of(context, "Dataset.DataFiles") & dict(key)
    streams = []
    for row in files.fetch("subject_name", "session_name", "dataset_name", "file_path", "storage", as_dict=True,
                                  order_by="file_path"):
        board = next((b for b in _BOARDS if row["file_path"].endswith(f".{b}.meta")), None)
        if board is not None:
            streams += _board_streams(context, row, board, _starting_time(context, row, board, synced))
    return streams


def _board_streams(context: Context, row: Mapping[str, Any], board: str, start: float) -> list[AnalogStream]:
    file_table = table_of(context, "File")
    meta_file = file_table & {"file_path": row["file_path"], "storage": row["storage"]}
    meta = read_meta(meta_file.get(progress=False)[0])
    columns = np.asarray(meta.analog_channels, dtype=int)
    if not len(columns):
        return []
    binary = (file_table & {"file_path": row["file_path"][:-len(".meta")] + ".bin", "storage": row["storage"]})
    path = binary.get(progress=False)[0]
    gains = np.asarray(meta.analog_uv_per_bit, dtype=float)
    streams: list[AnalogStream] = []
    for gain in np.unique(gains):
        chosen = columns[gains == gain]
        names = [f"{meta.column_kinds[c]}{c}" for c in chosen]
        suffix = "" if len(np.unique(gains)) == 1 else f"_gain{len(streams)}"
        streams.append(AnalogStream(
            name=f"{row['dataset_name']}_{board}{suffix}".replace("/", "_"),
            samples=InterleavedBinary(path, meta.n_saved_channels, chosen), sampling_rate=meta.sampling_rate,
            volts_per_bit=float(gain) * 1e-6, channel_names=names, starting_time=start,
            description=f"analog inputs of the {board} board of dataset {row['dataset_name']}"))
    return streams


def _starting_time(context: Context, row: Mapping[str, Any], board: str, synced: bool) -> float:
    """Where the board's first sample falls on the session clock: 0 unless StreamSync maps the board elsewhere."""
    if not synced:
        return 0.0
    sync = table_of(context, "StreamSync") & {"subject_name": row["subject_name"], "session_name":
                                            row["session_name"], "dataset_name": row["dataset_name"],
                                            "stream_name": board}
    return float(sync.apply(np.zeros(1), warn=False)[0]) if len(sync) == 1 else 0.0


def trials_of(context: Context, key: Mapping[str, Any]) -> TrialsExport | None:
    """The session's DecisionTask trials (all trial sets, ordered by start time); None when it has none."""
    sets = (table_of(context, "DecisionTask.TrialSet") & dict(key)).fetch(as_dict=True)
    sets = [s for s in sets if s.get("initiation_times") is not None and len(np.ravel(s["initiation_times"]))]
    if not sets:
        return None
    start = np.concatenate([np.ravel(s["initiation_times"]).astype(float) for s in sets])
    order = np.argsort(start, kind="stable")
    columns = {"trial_num": ExtraColumn(_joined(sets, "trial_num")[order], "trial number in the session"),
               "trialset": ExtraColumn(np.concatenate([[s["trialset_description"]] * len(np.ravel(
                   s["initiation_times"])) for s in sets]).astype(str)[order], "the trial set (condition)")}
    for name, description in _TRIAL_VARIABLES.items():
        if any(s.get(name) is not None for s in sets):
            columns[name] = ExtraColumn(_joined(sets, name)[order], description)
    return TrialsExport(start_time=start[order], stop_time=_stops(start[order]), columns=columns)


def _stops(starts: np.ndarray) -> np.ndarray:
    """Each trial lasts until the next one starts; the last as long as the median trial (1 s if it is alone)."""
    gaps = np.diff(starts)
    last = float(np.median(gaps[gaps > 0])) if np.any(gaps > 0) else 1.0
    return np.append(starts[1:], starts[-1] + last)


def _joined(sets: list[dict[str, Any]], name: str) -> np.ndarray:
    """Column ``name`` of every trial set, concatenated; NaN for a set without it."""
    parts = []
    for trial_set in sets:
        count = len(np.ravel(trial_set["initiation_times"]))
        values = trial_set.get(name)
        parts.append(np.full(count, np.nan) if values is None else np.ravel(values).astype(float)[:count])
    return np.concatenate(parts)


def electrode_locations(context: Context, subject_name: str, configuration: Mapping[str, Any],
                        n_channels: int) -> list[str | None]:
    """Each of ``n_channels`` channels' brain region acronym (ProbeBrainRegion of the subject's insertions of
    this probe configuration; ``electrodes`` index the configuration's channels), None where unknown."""
    locations: list[str | None] = [None] * n_channels
    regions = table_of(context, "ProbeBrainRegion") & {"subject_name": subject_name, "probe_id":
                                                     configuration["probe_id"], "configuration_id":
                                                     configuration["configuration_id"]}
    for region in regions.fetch("region_acronym", "electrodes", as_dict=True):
        for electrode in np.ravel(region["electrodes"] if region["electrodes"] is not None else []):
            if 0 <= int(electrode) < len(locations):
                locations[int(electrode)] = str(region["region_acronym"])
    return locations
