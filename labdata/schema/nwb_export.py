"""Exporting sessions of the lake as NWB files (DANDI-organised), one file per session.

:func:`export_nwb` takes any query of sessions or datasets and, for each session, gathers what the
lake knows (:func:`session_export`) into a :class:`~labdata.converters.nwb.SessionExport`: the
subject (species from its strain, sex, date of birth), the session and its experimenter, each
recorded probe with its electrodes from the probe configuration and, unless ``raw=False``, its AP
(and LF) samples read chunk by chunk from the compressed recording; the units of each probe's
sorting with their spike times (on the session clock with ``synced=True``), median waveforms and
every numeric UnitMetrics column; and the digital events. The file is written by
:func:`~labdata.converters.nwb.write_nwb` (a partial name, renamed when complete) under
``sub-<subject>/sub-<subject>_ses-<session>_ecephys.nwb``.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from labdata.catalog.engine.context import Context, current_context
from labdata.converters.nwb import (
    DigitalEvents,
    Electrode,
    ExtraColumn,
    ProbeExport,
    RawRecording,
    SessionExport,
    SessionInfo,
    SubjectInfo,
    UnitsExport,
    dandi_file_name,
    write_nwb,
)
from labdata.core.errors import QueryError
from labdata.schema import ephys, general  # noqa: F401 - declares the tables this module reaches by name
from labdata.schema.nwb_session_extras import analog_streams, electrode_locations, surgery_text, table_of, trials_of

__all__ = ["export_nwb", "session_export"]

_SESSION_KEY = ("subject_name", "session_name")
_NOT_COLUMNS = {"position", "active_electrodes"}  # blobs of UnitMetrics that are no per-unit number


def export_nwb(query: Any, folder: str | Path, *, backend: str = "hdf5", raw: bool = True, units: bool = True,
               synced: bool = True, progress: bool = True, compression: str | None = None) -> list[Path]:
    """Write one NWB file per session of ``query`` (sessions, datasets, or anything with their keys).

    Parameters
    ----------
    query : query or dict
        Restricts Session (e.g. ``Session & "subject_name = 'JC178'"``, ``Dataset & key``).
    folder : path
        Where the DANDI-organised files go (``sub-<subject>/...``); an existing file is refused.
    backend : {'hdf5', 'zarr'}
    raw : bool
        Include the raw AP/LF samples (read chunk by chunk from the lake).
    units : bool
        Include the units of each probe's sorting.
    synced : bool
        Spike times on the session's main clock (StreamSync), else on each probe's clock.
    compression : str, optional
        HDF5: the raw samples' filter, ``"gzip"`` or ``"gzip:<level>"`` (None: uncompressed; see
        :func:`~labdata.converters.nwb.write_nwb`).

    Returns
    -------
    list of Path
        The files written.
    """
    context = query.context if hasattr(query, "context") else current_context()
    keys = query.proj() if hasattr(query, "proj") else query  # by key only (sessions, datasets, ...)
    sessions = (table_of(context, "Session") & keys).fetch(*_SESSION_KEY, as_dict=True)
    if not sessions:
        raise QueryError(f"No session matches {query!r}.",
                         hint="Check the names (labdata sessions -a SUBJECT), or pass Session & key.")
    exports = [session_export(context, session, raw=raw, units=units, synced=synced) for session in sessions]
    written = []
    for session, export in zip(sessions, exports, strict=True):
        path = Path(folder) / dandi_file_name(session["subject_name"], session["session_name"], ["ecephys"])
        if backend == "zarr":
            path = path.with_suffix(".nwb.zarr")
        path.parent.mkdir(parents=True, exist_ok=True)
        written.append(write_nwb(export, path, backend=backend, progress=progress, compression=compression))
    return written


def export_nwb_to_storage(query: Any, *, backend: str = "hdf5", raw: bool = True, units: bool = True,
                          synced: bool = True, progress: bool = True, replace: bool = False,
                          compression: str | None = None) -> list[dict[str, str]]:
    """Export like :func:`export_nwb`, then store each file as an AnalysisFile of its session.

    The files are written in a temporary folder, then uploaded to the analysis storage at
    ``[<project>/]<subject>/<session>/nwb/<dandi file name>`` and registered (an upload intent is
    committed first, so a crash leaves no row without its object and no object without a record);
    an existing registered export is refused unless ``replace``. HDF5 only (a Zarr folder is not one file).

    Returns
    -------
    list of dict
        ``{"file_path", "storage"}`` of each stored file.
    """
    if backend != "hdf5":
        raise QueryError("Only HDF5 exports go to a storage (an NWB-Zarr export is a folder).",
                         hint="Export NWB-Zarr to a local folder, or use backend='hdf5'.")
    context = query.context if hasattr(query, "context") else current_context()
    analysis = table_of(context, "AnalysisFile")
    stored: list[dict[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="labdata-nwb-") as folder:
        for path in export_nwb(query, folder, raw=raw, units=units, synced=synced, progress=progress,
                               compression=compression):
            subject, session = _names_of(path)
            dataset = {"subject_name": subject, "session_name": session, "dataset_name": "nwb"}
            stored += analysis.upload_files([path], dataset, force=replace, progress=progress)
    return stored


def _names_of(path: Path) -> tuple[str, str]:
    """The lake's subject and session names of an exported file (its DANDI name sanitises them; the file's
    own subject and session ids hold them as they are)."""
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        return str(nwbfile.subject.subject_id), str(nwbfile.session_id)


def session_export(context: Context, session: dict[str, Any], *, raw: bool = True, units: bool = True,
                   synced: bool = True) -> SessionExport:
    """What the lake knows of one session, as the NWB writer's description."""
    key = {k: session[k] for k in _SESSION_KEY}
    row = (table_of(context, "Session") * table_of(context, "Subject") & key).fetch1()
    strains = table_of(context, "Strain") * table_of(context, "Species")
    species = (strains & {"strain_name": row["strain_name"]}).fetch1()
    settings = (table_of(context, "EphysRecording.ProbeSetting") & key).fetch("KEY")
    probes = [_probe(context, setting, raw) for setting in settings]
    boards = analog_streams(context, key, synced) if raw else []
    return SessionExport(
        subject=SubjectInfo(subject_id=row["subject_name"], species=species["species_scientific_name"],
                            sex=row["subject_sex"], date_of_birth=_aware(row["subject_dob"]),
                            strain=row["strain_name"]),
        session=SessionInfo(session_id=row["session_name"], start_time=_aware(row["session_datetime"]),
                            description=f"Session {row['session_name']} of {row['subject_name']}, exported from "
                                        f"the labdata lake (project {context.project}).",
                            experimenters=[row["experimenter"]] if row.get("experimenter") else []),
        probes=probes,
        units=[u for s in settings if units for u in [_units(context, s, synced)] if u is not None],
        events=_events(context, key, synced), analog=boards, trials=trials_of(context, key),
        surgery=surgery_text(context, row["subject_name"], row["session_datetime"]))


def _aware(value: Any) -> dt.datetime | None:
    """A date or naive datetime as an aware one, in this machine's time zone (the lab's)."""
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    return value if value.tzinfo is not None else value.astimezone()


def _probe_name(setting: dict[str, Any]) -> str:
    return f"{setting['dataset_name']}_imec{setting['probe_num']}".replace("/", "_")


def _probe(context: Context, setting: dict[str, Any], raw: bool) -> ProbeExport:
    configuration = (table_of(context, "ProbeConfiguration") * table_of(context, "Probe")
                     & (table_of(context, "EphysRecording.ProbeSetting") & setting).proj("probe_id", "configuration_id")
                     ).fetch1()
    coords = np.asarray(configuration["channel_coords"], dtype=float).reshape(-1, 2)
    shanks = np.asarray(configuration["channel_shank"], dtype=int).reshape(-1)
    regions = electrode_locations(context, setting["subject_name"], configuration, len(coords))
    electrodes = [Electrode(x=float(x), y=float(y), shank=int(s), location=region)
                  for (x, y), s, region in zip(coords, shanks, regions, strict=True)]
    streams = _raw_streams(context, setting, configuration) if raw else []
    return ProbeExport(name=_probe_name(setting), description=f"Neuropixels probe type {configuration['probe_type']}",
                       manufacturer="IMEC", electrodes=electrodes, raw=streams,
                       serial_number=str(configuration["probe_id"]))


class _Columns:
    """The probe's channels of a recording (the file's other columns, e.g. the sync word, left out)."""

    def __init__(self, recording: Any, columns: np.ndarray) -> None:
        self._recording, self._columns = recording, columns
        self.shape: tuple[int, ...] = (len(recording), len(columns))
        self.dtype = np.dtype(np.int16)

    def __getitem__(self, key: Any) -> np.ndarray:
        rows = key[0] if isinstance(key, tuple) else key
        return np.asarray(self._recording[rows])[:, self._columns]


def _raw_streams(context: Context, setting: dict[str, Any], configuration: dict[str, Any]) -> list[RawRecording]:
    settings = table_of(context, "EphysRecording.ProbeSetting") & setting
    rate = float(settings.fetch1("sampling_rate"))
    columns = np.asarray(configuration["channel_idx"], dtype=int).reshape(-1)
    streams = []
    for band in ("ap", "lf"):
        try:
            recording = settings.open(band)
        except QueryError:
            continue  # no such band in the lake (LF is often not kept)
        band_rate = rate if band == "ap" else float(recording.sampling_rate or rate / 12)
        streams.append(RawRecording(samples=_Columns(recording, columns), sampling_rate=band_rate,
                                    gain_uv=float(configuration["probe_gain"]), name=band))
    return streams


def _units(context: Context, setting: dict[str, Any], synced: bool) -> UnitsExport | None:
    sortings = (table_of(context, "SpikeSorting") & setting).fetch("parameter_set_num")
    if not len(sortings):
        return None
    sorting = dict(setting, parameter_set_num=int(max(sortings)))  # the latest parameter set of the probe
    unit_table = table_of(context, "SpikeSorting.Unit") & sorting
    units = unit_table.get_spike_times(synced=synced, warn=False)
    rate = next(iter(unit_table.get_sampling_rates().values()))
    metrics = {m["unit_id"]: m for m in (table_of(context, "UnitMetrics") & sorting).fetch(as_dict=True)}
    waveforms = {w["unit_id"]: w["waveform_median"] for w in unit_table.get_units_with_waveforms(
        synced=synced) } if len(table_of(context, "SpikeSorting.Waveforms") & sorting) else {}
    ids = [int(u["unit_id"]) for u in units]
    return UnitsExport(probe=_probe_name(setting), unit_ids=ids, spike_times=[np.asarray(u["spike_times"])
                                                                                for u in units],
                       resolution=1.0 / rate, waveform_median=_stacked([waveforms.get(i) for i in ids]),
                       extra_columns=_metric_columns(ids, metrics))


def _stacked(waveforms: Sequence[np.ndarray | None]) -> np.ndarray | None:
    present = [w for w in waveforms if w is not None]
    if not present or len(present) != len(waveforms) or len({w.shape for w in present}) != 1:
        return None
    return np.stack(present).astype(np.float32)


def _metric_columns(ids: list[int], metrics: dict[int, dict[str, Any]]) -> dict[str, ExtraColumn]:
    if not metrics:
        return {}
    names = [n for n in next(iter(metrics.values())) if n not in _NOT_COLUMNS and n not in
             ("subject_name", "session_name", "dataset_name", "probe_num", "parameter_set_num", "unit_id")]
    columns = {}
    for name in names:
        values = np.array([_number(metrics.get(i, {}).get(name)) for i in ids], dtype=float)
        columns[name] = ExtraColumn(values, f"UnitMetrics.{name} (labdata; NaN where not computed)")
    return columns


def _number(value: Any) -> float:
    try:
        return float(value) if value is not None else float("nan")
    except (TypeError, ValueError):
        return float("nan")


def _seconds(row: dict[str, Any], rates: dict[tuple[str, str], float], mapped: set[tuple[str, str]]) -> np.ndarray:
    """Event times in seconds: imec streams count samples, unless StreamSync mapped them onto the clock."""
    times = np.asarray(row["event_timestamps"], dtype=float)
    stream = (row["dataset_name"], row["stream_name"])
    return times / rates[stream] if stream in rates and stream not in mapped else times


def _events(context: Context, key: dict[str, Any], synced: bool) -> dict[str, DigitalEvents]:
    digital = table_of(context, "DatasetEvents.Digital") & key
    rows = digital.fetch_synced() if synced else digital.fetch(as_dict=True)
    rates = {(s["dataset_name"], f"imec{s['probe_num']}"): float(s["sampling_rate"]) for s in
             (table_of(context, "EphysRecording.ProbeSetting") & key).fetch(as_dict=True)}
    mapped = {(r["dataset_name"], r["stream_name"]) for r in (table_of(context, "StreamSync") & key).fetch(
        "dataset_name", "stream_name", as_dict=True)} if synced else set()
    return {f"{r['dataset_name']}_{r['stream_name']}_{r['event_name']}".replace("/", "_"):
            DigitalEvents(_seconds(r, rates, mapped),
                          np.asarray(r["event_values"]) if r.get("event_values") is not None
                          else np.ones(len(r["event_timestamps"])),
                          description=f"digital line {r['event_name']} of stream {r['stream_name']}")
            for r in rows}
