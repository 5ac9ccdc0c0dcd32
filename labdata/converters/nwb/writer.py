"""Write a :class:`SessionExport` as an NWB file (HDF5 or NWB-Zarr), atomically, refusing what DANDI would reject."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from hdmf.backends.hdf5 import H5DataIO
from pynwb import NWBHDF5IO, NWBFile, TimeSeries
from pynwb.ecephys import ElectricalSeries
from pynwb.epoch import TimeIntervals
from pynwb.file import Subject
from pynwb.misc import Units

from labdata.converters.nwb.chunks import SampleChunkIterator, chunk_rows_of, write_gzip_chunks
from labdata.converters.nwb.description import (
    AnalogStream,
    ProbeExport,
    SessionExport,
    TrialsExport,
    UnitsExport,
    missing_for_dandi,
)
from labdata.core.errors import ConfigError, FileConflictError, MissingAttributeError
from labdata.core.processes import process_alive

__all__ = ["BACKENDS", "build_nwbfile", "inspection_summary", "raw_filters", "trusted_zarr_reading", "write_nwb"]

BACKENDS = ("hdf5", "zarr")


def write_nwb(export: SessionExport, path: str | Path, *, backend: str = "hdf5", progress: bool = False,
              buffer_rows: int = 30_000, compression: str | None = None) -> Path:
    """Write ``export`` to ``path``: under a temporary name beside it, renamed into place once complete.

    A crash leaves no file under ``path``, only a ``.partial-<pid>-...`` beside it, which the next write of
    ``path`` deletes once that process is gone.

    Parameters
    ----------
    export : SessionExport
        The session to write.
    path : str or Path
        The destination; it must not exist (a ``.nwb`` file for HDF5, a directory for Zarr).
    backend : {"hdf5", "zarr"}
        HDF5 (DANDI's default) or NWB-Zarr in a local directory.
    progress : bool
        Show a progress bar per raw stream.
    buffer_rows : int
        Raw samples read per request (all channels).
    compression : str, optional
        HDF5 only: the filter of the raw samples, ``"gzip"`` or ``"gzip:<level 0-9>"`` (gzip is what every NWB
        reader decodes; level 4 by default, as NeuroConv and h5py); None stores them uncompressed.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    MissingAttributeError
        The session lacks what DANDI requires (see :func:`missing_for_dandi`); nothing is written.
    FileConflictError
        ``path`` exists.
    """
    destination = Path(path)
    _check_writable(export, destination, backend)
    _remove_stale_partials(destination)
    filters = raw_filters(compression) if backend == "hdf5" else None
    nwbfile = build_nwbfile(export, progress=progress, buffer_rows=buffer_rows, filters=filters)
    partial = destination.with_name(f".partial-{os.getpid()}-{uuid.uuid4().hex[:8]}-{destination.name}")
    try:
        _write_with(backend, nwbfile, partial)
        if filters is not None:
            _fill_compressed(partial, export, filters, buffer_rows, progress)
        os.replace(partial, destination)
    finally:
        _remove(partial)
    return destination


def raw_filters(compression: str | None) -> dict[str, Any] | None:
    """The h5py filter arguments of ``compression`` (``"gzip"``, ``"gzip:1"``; None: none).

    Raises
    ------
    ConfigError
        Not gzip, or a level outside 0-9.
    """
    if compression is None:
        return None
    name, _, level = compression.partition(":")
    if name != "gzip" or (level and not (level.isdigit() and 0 <= int(level) <= 9)):
        raise ConfigError(f"NWB compression {compression!r} is not one labdata writes.",
                          hint="Use 'gzip' or 'gzip:<level 0-9>' (every NWB reader decodes gzip), or none.")
    return {"compression": "gzip", "compression_opts": int(level) if level else 4}


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _remove_stale_partials(destination: Path) -> None:
    """Delete the partial files of ``destination`` left by a writer that was killed (``.partial-<pid>-...``
    whose process no longer runs on this machine); a running writer's partial is left alone."""
    for partial in destination.parent.glob(f".partial-*-{destination.name}"):
        pid = partial.name.split("-")[1]
        if pid.isdigit() and not process_alive(int(pid)):
            _remove(partial)


def _check_writable(export: SessionExport, destination: Path, backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"unknown NWB backend {backend!r}; expected one of {BACKENDS}")
    missing = missing_for_dandi(export)
    if missing:
        raise MissingAttributeError(
            f"session {export.session.session_id!r} of subject {export.subject.subject_id!r} cannot make a "
            f"DANDI-valid NWB file; missing: {'; '.join(missing)}",
            hint="fill the Subject row (sex, date_of_birth, species) and the Session row (start time, experimenters) "
                 "with Subject.update1 / Session.update1, then export again")
    if destination.exists():
        raise FileConflictError(f"{destination} already exists",
                                hint="choose another folder, or delete the file to export it again")
    if not destination.parent.is_dir():
        raise FileConflictError(f"folder {destination.parent} does not exist", hint="create it first")


def _write_with(backend: str, nwbfile: NWBFile, target: Path) -> None:
    if backend == "hdf5":
        with NWBHDF5IO(str(target), mode="w") as io:
            io.write(nwbfile)
        return
    from hdmf_zarr.nwb import NWBZarrIO

    with NWBZarrIO(str(target), mode="w") as io:
        io.write(nwbfile)


def _fill_compressed(target: Path, export: SessionExport, filters: dict[str, Any], buffer_rows: int,
                     progress: bool) -> None:
    """Write the raw samples into the empty gzip datasets hdmf created, compressing on threads."""
    import h5py

    with h5py.File(target, "r+") as file:
        for probe in export.probes:
            for raw in probe.raw:
                write_gzip_chunks(file[f"acquisition/{_series_name(probe, raw)}/data"], raw.samples,
                                  level=int(filters["compression_opts"]), buffer_rows=buffer_rows, progress=progress)


@contextlib.contextmanager
def trusted_zarr_reading() -> Iterator[None]:
    """Allow numcodecs' pickle decoding inside the block, for NWB-Zarr stores labdata wrote itself.

    hdmf-zarr stores object references (the electrodes' ``group`` column) with numcodecs' Pickle codec, which
    numcodecs 0.15.2 refuses to decode unless allowed; the flag is restored on exit.
    """
    from numcodecs import pickles

    before = pickles.ALLOW_UNSAFE_PICKLE_DECODE
    pickles.ALLOW_UNSAFE_PICKLE_DECODE = True
    try:
        yield
    finally:
        pickles.ALLOW_UNSAFE_PICKLE_DECODE = before


def build_nwbfile(export: SessionExport, *, progress: bool = False, buffer_rows: int = 30_000,
                  filters: dict[str, Any] | None = None) -> NWBFile:
    """The in-memory :class:`pynwb.NWBFile` of ``export``; raw streams stay iterators until written (wrapped in
    :class:`~hdmf.backends.hdf5.H5DataIO` with ``filters``, h5py's compression arguments, when given)."""
    session, subject = export.session, export.subject
    nwbfile = NWBFile(
        session_description=session.description, identifier=str(uuid.uuid4()),
        session_start_time=session.start_time, session_id=session.session_id,
        experimenter=list(session.experimenters), lab=session.lab, institution=session.institution,
        surgery=export.surgery, subject=Subject(subject_id=subject.subject_id, species=subject.species, sex=subject.sex,
                        date_of_birth=subject.date_of_birth, age=subject.age, strain=subject.strain,
                        description=subject.description))
    groups: dict[str, Any] = {}
    for probe in export.probes:
        first_row = len(nwbfile.electrodes) if nwbfile.electrodes is not None else 0
        groups.update(_add_probe(nwbfile, probe, _unknown_location(subject.species)))
        for raw in probe.raw:
            region = nwbfile.create_electrode_table_region(
                list(range(first_row, first_row + len(probe.electrodes))), f"electrodes of {probe.name}")
            nwbfile.add_acquisition(ElectricalSeries(
                name=_series_name(probe, raw), description=f"raw {raw.name} voltage of probe {probe.name}",
                data=_raw_data(raw.samples, buffer_rows, progress, filters),
                electrodes=region, rate=float(raw.sampling_rate), starting_time=float(raw.starting_time),
                conversion=float(raw.gain_uv) * 1e-6))
    for stream in export.analog:
        nwbfile.add_acquisition(_analog_series(stream, progress=progress, buffer_rows=buffer_rows))
    _add_units(nwbfile, export.units, groups)
    for name, events in export.events.items():
        if _has_offsets(events):
            nwbfile.add_time_intervals(_intervals(name, events))
        else:
            nwbfile.add_acquisition(_onsets(name, events))
    if export.trials is not None:
        _add_trials(nwbfile, export.trials)
    return nwbfile


def _analog_series(stream: AnalogStream, *, progress: bool, buffer_rows: int) -> TimeSeries:
    """An acquisition board's analog inputs as one TimeSeries in volts, read a block of rows at a time."""
    return TimeSeries(name=f"TimeSeries{_camel(stream.name)}", unit="volts",
                      description=f"{stream.description}; columns: {', '.join(stream.channel_names)}",
                      data=SampleChunkIterator(stream.samples, buffer_rows=buffer_rows, progress=progress),
                      rate=float(stream.sampling_rate), starting_time=float(stream.starting_time),
                      conversion=float(stream.volts_per_bit))


def _add_trials(nwbfile: NWBFile, trials: TrialsExport) -> None:
    """The trials table: start and stop times and one column per task variable (NaN where unknown)."""
    for name, column in trials.columns.items():
        nwbfile.add_trial_column(name=name, description=column.description)
    for index, (start, stop) in enumerate(zip(trials.start_time, trials.stop_time, strict=True)):
        values = {name: column.values[index] for name, column in trials.columns.items()}
        nwbfile.add_trial(start_time=float(start), stop_time=float(stop), **values)


def _has_offsets(events: Any) -> bool:
    """Whether every rise of a line is followed by a fall (so that it makes intervals)."""
    values = np.asarray(events.values) if events.values is not None else np.ones(len(events.timestamps))
    rises, falls = np.flatnonzero(values != 0), np.flatnonzero(values == 0)
    return len(rises) > 0 and len(falls) > 0 and all((falls > rise).any() for rise in rises[-1:])


def _onsets(name: str, events: Any) -> TimeSeries:
    """Events with no offsets (licks, a trial start without an end) as a TimeSeries of their values: by rate
    when they are regular (the inspector refuses regular timestamps), else with their timestamps."""
    times = np.asarray(events.timestamps, dtype=np.float64)
    values = np.asarray(events.values) if events.values is not None else np.ones(len(times))
    gaps = np.diff(times)
    common = dict(name=name, description=events.description, unit="n.a.", data=values)
    if len(gaps) > 1 and gaps[0] > 0 and np.allclose(gaps, gaps[0], rtol=0, atol=1e-9):
        return TimeSeries(**common, starting_time=float(times[0]), rate=float(1.0 / gaps[0]))
    return TimeSeries(**common, timestamps=times)


def _series_name(probe: ProbeExport, raw: Any) -> str:
    return f"ElectricalSeries{_camel(probe.name)}{_camel(raw.name)}"


def _raw_data(samples: Any, buffer_rows: int, progress: bool, filters: dict[str, Any] | None) -> Any:
    """An iterator over the samples; with ``filters``, an empty dataset of their shape that
    :func:`write_gzip_chunks` fills after hdmf wrote the file (compressing on threads)."""
    if filters is None:
        return SampleChunkIterator(samples, buffer_rows=buffer_rows, progress=progress)
    rows, channels = (int(size) for size in samples.shape)
    dtype = np.dtype(samples.dtype)
    chunks = (min(rows, chunk_rows_of(channels, dtype.itemsize, buffer_rows)), channels)
    return H5DataIO(shape=(rows, channels), dtype=dtype, chunks=chunks, **filters)


def _intervals(name: str, events: Any) -> TimeIntervals:
    """A digital line as intervals: each rise (value 1) to the next fall (value 0; the rise itself when none).

    Pulses are often regular (a 1 Hz sync square wave), which the inspector refuses as a TimeSeries with
    timestamps; intervals are what a line's on and off times are.
    """
    times = np.asarray(events.timestamps, dtype=np.float64)
    values = np.asarray(events.values) if events.values is not None else np.ones(len(times))
    rises = np.flatnonzero(values != 0)
    falls = np.flatnonzero(values == 0)
    table = TimeIntervals(name=name, description=events.description)
    for rise in rises:
        after = falls[falls > rise]
        stop = times[after[0]] if len(after) else times[rise]
        table.add_interval(start_time=float(times[rise]), stop_time=float(stop))
    return table


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.replace("-", "_").split("_") if part)


def _unknown_location(species: str | None) -> str:
    """The location of an electrode whose brain region is not known: for a mouse the Allen CCF's whole-brain term
    "root" (nwbinspector's DANDI configuration rejects anything outside the CCF for mice), else "unknown"."""
    return "root" if species == "Mus musculus" else "unknown"


def _add_probe(nwbfile: NWBFile, probe: ProbeExport, unknown: str) -> dict[str, Any]:
    """Device, one electrode group per shank and the probe's electrode rows; returns the groups by name."""
    if nwbfile.electrodes is None or "rel_x" not in nwbfile.electrodes.colnames:
        nwbfile.add_electrode_column("rel_x", "x position on the probe (µm)")
        nwbfile.add_electrode_column("rel_y", "y position on the probe (µm)")
        nwbfile.add_electrode_column("shank", "shank of the probe the electrode sits on")
    model_name = probe.model or f"{probe.manufacturer} probe"
    model = nwbfile.device_models.get(model_name) or nwbfile.create_device_model(
        name=model_name, manufacturer=probe.manufacturer, description=f"{model_name} by {probe.manufacturer}")
    device = nwbfile.create_device(name=probe.name, description=probe.description, model=model,
                                   serial_number=probe.serial_number)
    groups = {}
    for shank in sorted({electrode.shank for electrode in probe.electrodes}):
        name = probe.group_name(shank)
        locations = {e.location for e in probe.electrodes if e.shank == shank and e.location}
        groups[name] = nwbfile.create_electrode_group(
            name=name, description=f"shank {shank} of probe {probe.name}",
            location=", ".join(sorted(locations)) or unknown, device=device)
    for electrode in probe.electrodes:
        nwbfile.add_electrode(group=groups[probe.group_name(electrode.shank)], location=electrode.location or unknown,
                              rel_x=float(electrode.x), rel_y=float(electrode.y), shank=int(electrode.shank))
    return groups


def _add_units(nwbfile: NWBFile, all_units: Any, groups: dict[str, Any]) -> None:
    """The Units table: spike times, electrode group, waveforms and the extra per-unit columns."""
    columns: dict[str, str] = {}
    resolutions = [units.resolution for units in all_units if units.resolution]
    if all_units:
        nwbfile.units = Units(name="units", description="units sorted from the probes' recordings",
                              resolution=min(resolutions) if resolutions else None)
    for units in all_units:
        for name, column in units.extra_columns.items():
            columns.setdefault(name, column.description)
    for name, description in columns.items():
        nwbfile.add_unit_column(name=name, description=description)
    waveforms = {kind: _padded_waveforms(all_units, kind) for kind in ("waveform_mean", "waveform_median")}
    if waveforms["waveform_median"] is not None:  # not one of pynwb's predefined Units columns
        nwbfile.add_unit_column(name="waveform_median", description="the median waveform of each unit on every "
                                "channel of its probe (uV; samples x channels)")
    for position, units in enumerate(all_units):
        unit_waveforms = {kind: arrays[position] for kind, arrays in waveforms.items() if arrays is not None}
        _add_probe_units(nwbfile, units, groups, columns, unit_waveforms)


def _padded_waveforms(all_units: Any, kind: str) -> list[np.ndarray] | None:
    """Each export's ``kind`` waveforms (units x samples x channels) padded with NaN to one shape, NWB's waveform
    columns being rectangular; all NaN for an export without them; None when no export has any."""
    given = [getattr(units, kind) for units in all_units]
    shapes = [np.shape(array)[1:] for array in given if array is not None]
    if not shapes:
        return None
    shape = tuple(max(sizes) for sizes in zip(*shapes, strict=True))
    padded = []
    for units, array in zip(all_units, given, strict=True):
        block = np.full((len(units.unit_ids), *shape), np.nan, dtype=np.float32)
        if array is not None:
            block[tuple(slice(0, size) for size in np.shape(array))] = array
        padded.append(block)
    return padded


def _add_probe_units(nwbfile: NWBFile, units: UnitsExport, groups: dict[str, Any], columns: dict[str, str],
                     waveforms: dict[str, np.ndarray]) -> None:
    probe_groups = {name: group for name, group in groups.items()
                    if name == units.probe or name.startswith(f"{units.probe}_shank")}
    for index, unit_id in enumerate(units.unit_ids):
        shank = units.shanks[index] if units.shanks is not None else None
        group_name = units.probe if units.probe in probe_groups else f"{units.probe}_shank{shank}"
        row: dict[str, Any] = {"id": int(unit_id), "electrode_group": probe_groups[group_name],
                               "spike_times": np.asarray(units.spike_times[index], dtype=np.float64)}
        row.update({kind: arrays[index] for kind, arrays in waveforms.items()})
        for name in columns:
            column = units.extra_columns.get(name)
            row[name] = float(column.values[index]) if column is not None else float("nan")
        nwbfile.add_unit(**row)


def inspection_summary(path: str | Path) -> str:
    """The DANDI inspector's messages on an HDF5 file, counted by importance (e.g. ``0 CRITICAL, ...``)."""
    from nwbinspector import Importance, inspect_nwbfile, load_config

    counts = {importance.name: 0 for importance in Importance}
    for message in inspect_nwbfile(nwbfile_path=str(path), config=load_config("dandi")):
        counts[message.importance.name] += 1
    shown = ("CRITICAL", "BEST_PRACTICE_VIOLATION", "BEST_PRACTICE_SUGGESTION")
    return "nwbinspector (DANDI): " + ", ".join(f"{counts.get(name, 0)} {name}" for name in shown)
