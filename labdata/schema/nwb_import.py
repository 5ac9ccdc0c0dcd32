"""Importing an existing NWB file: the file stored as a raw File, and what it holds registered with it.

:func:`import_nwb` (Python) and the ``nwb`` upload rule (:mod:`labdata.upload.nwb_rule`) read the file
with :func:`~labdata.converters.nwb.reader.read_nwb` and call :func:`register_nwb` inside the transaction
that registers the file. The mapping:

* Subject, Session, Dataset (type ``ephys`` when the file has electrodes or units, ``task-behavior``
  when it has only events): see :mod:`labdata.schema.nwb_subjects`;
* each electrode group -> a Probe ``nwb-<hash of file identifier and group>`` (type ``nwb``, one shank),
  a ProbeConfiguration (``channel_idx``: the electrodes' rows in the file; ``channel_coords``: rel_x/rel_y,
  else x/y; gain: the ElectricalSeries' conversion in µV, else NaN), and EphysRecording.ProbeSetting
  ``probe_num`` in file order, with the file as its ProbeFile. Units of a file without electrodes hang
  from a placeholder group ``nwb``. The sampling rate is the group's ElectricalSeries' rate, else one over
  the units' resolution, else 30 kHz; which one is recorded in ``SpikeSorting.additional_params``;
* units -> SpikeSortingParams ``nwb_import`` (``{}``), one SpikeSorting per group and its Units, with
  spike times in samples of that rate (``round(t * rate)``; negative times are refused);
* events -> DatasetEvents stream ``nwb`` (seconds) with one Digital row per table or series:
  ``<intervals>`` (starts value 1, finite stops value 0; other columns are not imported) and ``<series>``
  for timestamped series (their values when one number per timestamp, else 1), in time order.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from labdata.catalog.engine.context import current_context
from labdata.converters.nwb.reader import ElectrodeGroupInfo, NwbContents, NwbUnits, read_nwb
from labdata.core.errors import DataError, FileConflictError, RecordingFormatError
from labdata.schema.ephys import EphysRecording, Probe, ProbeConfiguration, SpikeSorting, SpikeSortingParams
from labdata.schema.file_objects import drop_intents, finish_object_deletions, record_intents
from labdata.schema.general import DEFAULT_RAW_STORAGE, Dataset, DatasetEvents, Session, Subject
from labdata.schema.nwb_subjects import dataset_names, new_subject, session_row
from labdata.schema.sorting_params import find_parameter_set, next_parameter_set
from labdata.stores import open_store

__all__ = ["ALGORITHM", "DEFAULT_RATE", "EVENT_STREAM", "import_nwb", "register_nwb"]

ALGORITHM = "nwb_import"
DEFAULT_RATE = 30000.0
EVENT_STREAM = "nwb"
SOFTWARE = "nwb"


def import_nwb(path: str | Path, *, subject_name: str | None = None, session_name: str | None = None,
               dataset_name: str | None = None, storage: str = DEFAULT_RAW_STORAGE,
               new_subject_fields: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Store an NWB file in ``storage`` and register it with its subject, session, electrodes, units and events.

    Parameters
    ----------
    path : path
        An NWB 2 file (HDF5).
    subject_name, session_name, dataset_name : str, optional
        Win over the file's (needed when the file has no subject).
    storage : str
        Where the file goes, at ``<subject>/<session>/<dataset>/<file name>``.
    new_subject_fields : mapping, optional
        ``subject_dob``, ``subject_sex``, ``strain_name``, ``user_name`` for a new subject (win over the file's).

    Returns
    -------
    dict
        The Dataset key.

    Raises
    ------
    RecordingFormatError
        pynwb cannot read the file, or it is an NWB-Zarr folder; nothing is stored or registered.
    FileConflictError
        The file is in the lake already (a second import changes nothing).
    MissingAttributeError, MissingParentError
        A name or a new subject's field is unknown.
    """
    source = Path(path)
    if source.is_dir():
        raise RecordingFormatError(f"{source.name} is a folder (NWB-Zarr); a File holds one file.",
                                   hint="Import the HDF5 version of the file (read_nwb reads NWB-Zarr folders).")
    contents = read_nwb(source)
    names = dataset_names(contents, source.name, subject_name, session_name, dataset_name)
    file_path = f"{names['subject_name']}/{names['session_name']}/{names['dataset_name']}/{source.name}"
    context = current_context()
    _refuse_known(file_path, storage, names)
    finish_object_deletions(context)
    pair = [(storage, file_path)]
    record_intents(pair, "upload", context)
    sent = open_store(context.prefs(), storage).put(source, file_path, progress=None)
    file_row = dict(file_path=file_path, storage=storage, file_size=float(sent.size), file_md5=sent.md5,
                    file_datetime=dt.datetime.fromtimestamp(source.stat().st_mtime).replace(microsecond=0))

    def register() -> None:
        from labdata.schema.general import File

        _refuse_known(file_path, storage, names)
        File.insert1(file_row)
        register_nwb(names, contents, file_row, new_subject_fields)
        drop_intents(pair, "upload", context)

    try:
        context.lake.run(register)
    except BaseException:
        _discard(pair, context)
        raise
    return names


def _refuse_known(file_path: str, storage: str, names: Mapping[str, str]) -> None:
    from labdata.schema.general import File

    if File & {"file_path": file_path, "storage": storage} or EphysRecording & dict(names):
        raise FileConflictError(f"{file_path!r} is already imported (File or EphysRecording of {dict(names)}).",
                                hint="Nothing changed. Delete the dataset first to import it again, or import "
                                     "under another dataset_name.")


def _discard(pair: list[tuple[str, str]], context: Any) -> None:
    def forget() -> None:
        drop_intents(pair, "upload", context)
        record_intents(pair, "delete", context)

    context.lake.run(forget)
    finish_object_deletions(context)


def register_nwb(dataset: Mapping[str, str], contents: NwbContents, file_key: Mapping[str, Any],
                 new_subject_fields: Mapping[str, Any] | None = None, dataset_type: str | None = None) -> None:
    """Insert the rows of an NWB file (see the module) in the caller's transaction.

    Subject, Session and Dataset are inserted when missing; ``file_key`` (file_path, storage) is a File
    row inserted by the caller.
    """
    dataset = {k: dataset[k] for k in ("subject_name", "session_name", "dataset_name")}
    subject = new_subject(dataset["subject_name"], contents, new_subject_fields)
    if subject is not None:
        Subject.insert1(subject)
    if not Session & {k: dataset[k] for k in ("subject_name", "session_name")}:
        Session.insert1(session_row(contents, dataset))
    has_ephys = bool(contents.groups or contents.units)
    kind = dataset_type or ("ephys" if has_ephys else "task-behavior" if contents.events else None)
    Dataset.insert1(dict(dataset, dataset_type=kind), skip_duplicates=True)
    Dataset.DataFiles.insert1(dict(dataset, file_path=file_key["file_path"], storage=file_key["storage"]),
                              skip_duplicates=True)
    if has_ephys:
        _register_ephys(dataset, contents, file_key)
    if contents.events:
        _insert_events(dataset, contents)


def _insert_events(dataset: dict[str, str], contents: NwbContents) -> None:
    """DatasetEvents ``nwb`` and one Digital row per event table or series of the file (seconds)."""
    DatasetEvents.insert1(dict(dataset, stream_name=EVENT_STREAM), skip_duplicates=True, allow_direct_insert=True)
    DatasetEvents.Digital.insert([dict(dataset, stream_name=EVENT_STREAM, event_name=name[:54],
                                       event_timestamps=np.asarray(events.timestamps, dtype=np.float64),
                                       event_values=np.asarray(events.values))
                                  for name, events in contents.events.items()], allow_direct_insert=True)


def _groups_with_units(contents: NwbContents) -> list[ElectrodeGroupInfo]:
    """The file's electrode groups, plus a placeholder for units whose group has no electrodes."""
    known = {g.name for g in contents.groups}
    extra = [ElectrodeGroupInfo(name=u.group, device=None, rows=np.zeros(0, dtype=np.int64),
                                ids=np.zeros(0, dtype=np.int64), coords=np.zeros((0, 2)), locations=[])
             for u in contents.units if u.group not in known]
    return [*contents.groups, *extra]


def _register_ephys(dataset: dict[str, str], contents: NwbContents, file_key: Mapping[str, Any]) -> None:
    groups = _groups_with_units(contents)
    EphysRecording.insert1(dict(dataset, n_probes=len(groups), recording_duration=contents.duration,
                                recording_software=SOFTWARE), allow_direct_insert=True)
    units_of = {u.group: u for u in contents.units}
    for number, group in enumerate(groups):
        setting = dict(dataset, probe_num=number)
        rate, rate_source = _rate(group, units_of.get(group.name))
        EphysRecording.ProbeSetting.insert1(dict(setting, **_configuration(contents.identifier, group),
                                                 sampling_rate=rate), allow_direct_insert=True)
        EphysRecording.ProbeFile.insert1(dict(setting, file_path=file_key["file_path"], storage=file_key["storage"]),
                                         allow_direct_insert=True)
        if group.name in units_of:
            _register_units(setting, units_of[group.name], rate, {"nwb_group": group.name, "sampling_rate": rate_source,
                                                                 "nwb_file": str(file_key["file_path"])})


def _rate(group: ElectrodeGroupInfo, units: NwbUnits | None) -> tuple[float, str]:
    if group.sampling_rate:
        return float(group.sampling_rate), "ElectricalSeries rate"
    if units is not None and units.resolution:
        return 1.0 / units.resolution, "one over the units' resolution"
    return DEFAULT_RATE, f"assumed {DEFAULT_RATE:g} Hz (the file has no ElectricalSeries or units resolution)"


def _probe_id(identifier: str, group: str) -> str:
    return "nwb-" + hashlib.sha1(f"{identifier}\0{group}".encode()).hexdigest()[:16]


def _configuration(identifier: str, group: ElectrodeGroupInfo) -> dict[str, Any]:
    """Insert the group's Probe and ProbeConfiguration (the file's electrode rows and positions)."""
    probe = {"probe_id": _probe_id(identifier, group.name)}
    Probe.insert1(dict(probe, probe_type="nwb", probe_n_shanks=1, probe_recording_channels=len(group.rows)),
                  skip_duplicates=True)
    key = dict(probe, configuration_id=1)
    ProbeConfiguration.insert1(dict(key, probe_n_channels=len(group.rows),
                                    probe_gain=float(group.gain_uv) if group.gain_uv else float("nan"),
                                    channel_idx=np.asarray(group.rows, dtype=np.int64),
                                    channel_shank=np.zeros(len(group.rows), dtype=np.int64),
                                    channel_coords=np.asarray(group.coords, dtype=np.float64).reshape(-1, 2)),
                               skip_duplicates=True)
    return key


def _register_units(setting: dict[str, Any], units: NwbUnits, rate: float, info: dict[str, Any]) -> None:
    number = find_parameter_set(SpikeSortingParams(), ALGORITHM, "{}")
    if number is None:
        number = next_parameter_set(SpikeSortingParams())
        SpikeSortingParams.insert1(dict(parameter_set_num=number, algorithm_name=ALGORITHM, parameters_dict="{}",
                                        parameter_description="units imported from an NWB file"))
    samples = [_samples(times, rate, unit) for unit, times in zip(units.unit_ids, units.spike_times, strict=True)]
    sorting = dict(setting, parameter_set_num=number)
    SpikeSorting.insert1(dict(sorting, n_sorted_units=len(samples), n_detected_spikes=int(sum(map(len, samples))),
                              sorting_datetime=dt.datetime.now().replace(microsecond=0),
                              additional_params=json.dumps(info)[:2000]))
    SpikeSorting.Unit.insert([dict(sorting, unit_id=int(unit), spike_times=times)
                              for unit, times in zip(units.unit_ids, samples, strict=True)])


def _samples(times: np.ndarray, rate: float, unit: int) -> np.ndarray:
    if len(times) and float(np.nanmin(times)) < 0:
        raise DataError(f"Unit {unit} of the NWB file has spikes before the session start ({np.nanmin(times)} s); "
                        "the lake counts spike times in samples from the start.",
                        hint="Shift the file's spike times to be >= 0 (or leave that unit out) and import again.")
    return np.round(np.asarray(times, dtype=np.float64) * rate).astype(np.uint64)
