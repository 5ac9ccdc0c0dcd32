"""Read an existing NWB file as plain data (:class:`NwbContents`), for importing it into the lake.

:func:`read_nwb` opens the file with pynwb (HDF5, or an NWB-Zarr folder) and returns its subject,
session, electrodes (by electrode group), units (spike times in seconds as the file has them, the group
each unit sits on, mean waveforms when present) and events in time order: every TimeIntervals table
(trials, epochs, ...: starts and stops) and every TimeSeries with timestamps (e.g. in BehavioralEvents). Raw acquisition
data is never read: only timestamps of timestamped series (and their values when they are 1-D and no
longer than their timestamps). A file pynwb cannot open raises :class:`RecordingFormatError` with
pynwb's reason.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labdata.converters.nwb.writer import trusted_zarr_reading
from labdata.core.errors import RecordingFormatError

__all__ = ["ElectrodeGroupInfo", "NwbContents", "NwbEvents", "NwbSubject", "NwbUnits", "read_nwb"]

PLACEHOLDER_GROUP = "nwb"
"""Electrode group of units in a file that has no electrodes table."""


@dataclass(frozen=True)
class NwbSubject:
    """The file's subject, as written (sex as in the file; dates aware)."""

    subject_id: str | None
    species: str | None = None
    sex: str | None = None
    date_of_birth: dt.datetime | None = None
    age: str | None = None
    strain: str | None = None
    genotype: str | None = None


@dataclass(frozen=True)
class ElectrodeGroupInfo:
    """One electrode group: its device, its electrodes' rows in the file, positions (µm) and locations."""

    name: str
    device: str | None
    rows: np.ndarray
    ids: np.ndarray
    coords: np.ndarray
    locations: list[str]
    sampling_rate: float | None = None
    gain_uv: float | None = None


@dataclass(frozen=True)
class NwbUnits:
    """Units of one electrode group: ids, spike times (s) and mean waveforms when the file has them."""

    group: str
    unit_ids: list[int]
    spike_times: list[np.ndarray]
    resolution: float | None = None
    waveform_mean: list[np.ndarray] | None = None


@dataclass(frozen=True)
class NwbEvents:
    """Timestamps (s) and values of one event stream of the file."""

    timestamps: np.ndarray
    values: np.ndarray
    description: str = ""


@dataclass
class NwbContents:
    """What an NWB file holds that the lake registers."""

    identifier: str
    session_id: str | None
    session_start_time: dt.datetime
    session_description: str
    experimenters: list[str]
    subject: NwbSubject | None
    groups: list[ElectrodeGroupInfo] = field(default_factory=list)
    units: list[NwbUnits] = field(default_factory=list)
    events: dict[str, NwbEvents] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        """The last time the file mentions (spikes, events), in seconds."""
        ends = [float(np.nanmax(t)) for u in self.units for t in u.spike_times if len(t)]
        ends += [float(np.nanmax(e.timestamps)) for e in self.events.values() if len(e.timestamps)]
        return max(ends, default=0.0)


def read_nwb(path: str | Path, *, trusted_zarr: bool = False) -> NwbContents:
    """Read the subject, session, electrodes, units and events of an NWB file (HDF5 or NWB-Zarr).

    Parameters
    ----------
    path : path
        An HDF5 file, or an NWB-Zarr folder.
    trusted_zarr : bool
        Allow the pickled references hdmf-zarr writes (unpickling runs code: only for folders you trust,
        e.g. labdata's own exports).

    Raises
    ------
    RecordingFormatError
        pynwb cannot open the file (e.g. NWB 1.x); the message holds pynwb's reason.
    """
    path = Path(path)
    io = _open(path)
    try:
        with warnings.catch_warnings(), trusted_zarr_reading() if trusted_zarr else contextlib.nullcontext():
            warnings.simplefilter("ignore")  # cached-namespace and old-schema notices of valid files
            return _contents(io.read())
    except RecordingFormatError:
        raise
    except Exception as error:
        raise _unreadable(path, error) from error
    finally:
        io.close()


def _open(path: Path) -> Any:
    try:
        if path.is_dir():
            from hdmf_zarr.nwb import NWBZarrIO

            return NWBZarrIO(str(path), mode="r", load_namespaces=True)
        from pynwb import NWBHDF5IO

        return NWBHDF5IO(str(path), mode="r", load_namespaces=True)
    except Exception as error:
        raise _unreadable(path, error) from error


def _unreadable(path: Path, error: Exception) -> RecordingFormatError:
    if type(error).__name__ == "UnsafeDecodeError":
        return RecordingFormatError(f"{path.name} holds pickled references (hdmf-zarr writes them) that are not "
                                    "decoded by default: unpickling runs code.",
                                    hint="If you trust the folder, read it with read_nwb(path, trusted_zarr=True).")
    return RecordingFormatError(
        f"{path.name} is not an NWB file pynwb can read: {type(error).__name__}: {error}",
        hint="Only NWB 2.x files are imported; convert NWB 1.x files to NWB 2 first (e.g. with the "
             "Allen SDK or NeuroConv), or check that the file is complete.")


def _contents(nwbfile: Any) -> NwbContents:
    groups = _groups(nwbfile)
    return NwbContents(
        identifier=str(nwbfile.identifier), session_id=_text(nwbfile.session_id),
        session_start_time=nwbfile.session_start_time,
        session_description=str(nwbfile.session_description or ""),
        experimenters=[str(e) for e in (nwbfile.experimenter or ())],
        subject=_subject(nwbfile.subject), groups=groups,
        units=_units(nwbfile, groups), events=_events(nwbfile))


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _subject(subject: Any) -> NwbSubject | None:
    if subject is None:
        return None
    return NwbSubject(subject_id=_text(subject.subject_id), species=_text(subject.species), sex=_text(subject.sex),
                      date_of_birth=subject.date_of_birth, age=_text(subject.age), strain=_text(subject.strain),
                      genotype=_text(subject.genotype))


def _column(table: Any, *names: str) -> np.ndarray | None:
    for name in names:
        if name in table.colnames:
            return np.asarray(table[name][:], dtype=float)
    return None


def _groups(nwbfile: Any) -> list[ElectrodeGroupInfo]:
    """One entry per electrode group with its electrodes (rel_x/rel_y, else x/y, else zeros)."""
    table = nwbfile.electrodes
    if table is None or not len(table):
        return []
    names = np.asarray([str(g) for g in table["group_name"][:]]) if "group_name" in table.colnames else \
        np.asarray([g.name for g in table["group"][:]])
    x, y = _column(table, "rel_x", "x"), _column(table, "rel_y", "y")
    coords = np.column_stack([np.zeros(len(table)) if x is None else x, np.zeros(len(table)) if y is None else y])
    locations = [str(v) for v in table["location"][:]] if "location" in table.colnames else [""] * len(table)
    rates = _series_rates(nwbfile)
    ids = np.asarray(table.id[:], dtype=np.int64)
    groups = []
    for name in dict.fromkeys(names.tolist()):
        rows = np.flatnonzero(names == name)
        group = nwbfile.electrode_groups.get(name)
        device = group.device.name if group is not None and group.device is not None else None
        rate, gain = rates.get(name, (None, None))
        groups.append(ElectrodeGroupInfo(name=name, device=device, rows=rows, ids=ids[rows],
                                         coords=np.nan_to_num(coords[rows]), locations=[locations[r] for r in rows],
                                         sampling_rate=rate, gain_uv=gain))
    return groups


def _series_rates(nwbfile: Any) -> dict[str, tuple[float, float]]:
    """(rate, µV per unit) of the first regularly sampled ElectricalSeries over each group (its metadata only)."""
    from pynwb.ecephys import ElectricalSeries

    found: dict[str, tuple[float, float]] = {}
    for series in nwbfile.objects.values():
        if not isinstance(series, ElectricalSeries) or series.rate is None:
            continue
        table = series.electrodes.table
        for row in np.asarray(series.electrodes.data[:], dtype=int):
            found.setdefault(table["group"][int(row)].name, (float(series.rate), float(series.conversion) * 1e6))
    return found


def _units(nwbfile: Any, groups: list[ElectrodeGroupInfo]) -> list[NwbUnits]:
    """The units table split by the electrode group of each unit (its own column, else its first electrode)."""
    units = nwbfile.units
    if units is None or not len(units):
        return []
    group_of_id = {int(i): g.name for g in groups for i in g.ids}
    ids = [int(i) for i in units.id[:]]
    by_group: dict[str, list[int]] = {}
    for index in range(len(ids)):
        by_group.setdefault(_unit_group(units, index, group_of_id, groups), []).append(index)
    means = units["waveform_mean"] if "waveform_mean" in units.colnames else None
    resolution = float(units.resolution) if units.resolution not in (None, -1.0) else None
    return [NwbUnits(group=name, unit_ids=[ids[i] for i in members],
                     spike_times=[np.asarray(units["spike_times"][i], dtype=np.float64) for i in members],
                     resolution=resolution,
                     waveform_mean=None if means is None else [np.asarray(means[i]) for i in members])
            for name, members in by_group.items()]


def _unit_group(units: Any, index: int, group_of_id: dict[int, str], groups: list[ElectrodeGroupInfo]) -> str:
    """The electrode group of unit ``index``: its own column, else that of its first electrode (by id)."""
    if "electrode_group" in units.colnames:
        return str(units["electrode_group"][index].name)
    if "electrodes" in units.colnames:
        electrodes = units["electrodes"][index]
        ids = electrodes.index.tolist() if hasattr(electrodes, "index") else list(np.atleast_1d(electrodes))
        if ids and int(ids[0]) in group_of_id:
            return group_of_id[int(ids[0])]
    return groups[0].name if groups else PLACEHOLDER_GROUP


def _events(nwbfile: Any) -> dict[str, NwbEvents]:
    """Each TimeIntervals table and each timestamped TimeSeries of the file, by name."""
    from pynwb.base import TimeSeries
    from pynwb.epoch import TimeIntervals

    events: dict[str, NwbEvents] = {}
    for item in nwbfile.objects.values():
        if isinstance(item, TimeIntervals) and len(item):
            events[item.name] = _interval_events(item)
        elif isinstance(item, TimeSeries) and item.timestamps is not None:
            stamps = np.asarray(item.timestamps[:], dtype=np.float64)
            events[item.name] = _in_time_order(stamps, _series_values(item, len(stamps)), str(item.description or ""))
    return events


def _series_values(series: Any, count: int) -> np.ndarray:
    """The series' data when it is one number per timestamp (events), else ones (never raw samples)."""
    data = series.data
    if data is not None and getattr(data, "ndim", np.ndim(data)) == 1 and len(data) == count:
        values = np.asarray(data[:])
        if np.issubdtype(values.dtype, np.number):
            return values.astype(np.float64)
    return np.ones(count)


def _interval_events(table: Any) -> NwbEvents:
    """Starts (value 1) and finite stops (value 0) of a TimeIntervals table in time order (stops first at equal
    times). Its other columns are not read: files differ on whether their ``*_time`` columns are session times."""
    starts = np.asarray(table["start_time"][:], dtype=np.float64)
    stops = np.asarray(table["stop_time"][:], dtype=np.float64)
    stops = stops[np.isfinite(stops)]
    return _in_time_order(np.concatenate([starts, stops]), np.concatenate([np.ones(len(starts)), np.zeros(len(stops))]),
                          str(table.description or table.name))


def _in_time_order(times: np.ndarray, values: np.ndarray, description: str) -> NwbEvents:
    """Events sorted by time (by value at equal times, offsets first): an event stream has no other order."""
    order = np.lexsort((values, times))
    return NwbEvents(times[order], values[order], description)
