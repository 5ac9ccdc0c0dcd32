"""What one exported NWB session holds, as plain data, and what DANDI requires of it.

The schema layer fills a :class:`SessionExport` from the lake; :func:`labdata.converters.nwb.write_nwb`
turns it into a file. Nothing here reads the lake or a file.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

__all__ = [
    "AnalogStream",
    "DigitalEvents",
    "Electrode",
    "ExtraColumn",
    "ProbeExport",
    "RawRecording",
    "SampleArray",
    "SessionExport",
    "SessionInfo",
    "SubjectInfo",
    "TrialsExport",
    "UnitsExport",
    "dandi_file_name",
    "missing_for_dandi",
]

SEXES = ("M", "F", "U", "O")


class SampleArray(Protocol):
    """A samples x channels array that reads a block of rows on ``a[start:stop, :]`` (a Zarr array, a memmap)."""

    shape: tuple[int, ...]
    dtype: Any

    def __getitem__(self, selection: Any) -> Any:
        """Read ``selection`` (row slice, column slice) into memory."""


@dataclass(frozen=True)
class SubjectInfo:
    """The subject: DANDI needs its id, species (Latin binomial), sex and a date of birth (or an age)."""

    subject_id: str
    species: str | None = None
    sex: str | None = None
    date_of_birth: datetime.datetime | None = None
    strain: str | None = None
    age: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class SessionInfo:
    """The session: its start time must carry a time zone."""

    session_id: str
    start_time: datetime.datetime | None
    description: str
    experimenters: Sequence[str] = ()
    lab: str | None = None
    institution: str | None = None


@dataclass(frozen=True)
class Electrode:
    """One recording site: position in µm on the probe, its shank, optionally the brain region."""

    x: float
    y: float
    shank: int = 0
    location: str | None = None


@dataclass(frozen=True)
class RawRecording:
    """Raw voltage of one probe stream, read chunk by chunk; ``gain_uv`` converts a bit to µV."""

    samples: SampleArray
    sampling_rate: float
    gain_uv: float
    starting_time: float = 0.0
    name: str = "ap"


@dataclass(frozen=True)
class ProbeExport:
    """A probe: device (of a model), one electrode group per shank, its electrodes and optionally its raw streams."""

    name: str
    description: str
    manufacturer: str
    electrodes: Sequence[Electrode]
    raw: Sequence[RawRecording] = ()
    model: str | None = None
    serial_number: str | None = None

    def group_name(self, shank: int) -> str:
        """The electrode group name of ``shank`` (one per shank; the probe name when single-shank)."""
        shanks = {electrode.shank for electrode in self.electrodes}
        return self.name if len(shanks) == 1 else f"{self.name}_shank{shank}"


@dataclass(frozen=True)
class ExtraColumn:
    """A per-unit numeric column (a unit metric): NaN where the lake has NULL."""

    values: np.ndarray
    description: str


@dataclass(frozen=True)
class UnitsExport:
    """Sorted units of one probe: spike times in seconds on the session clock, waveforms in µV.

    ``resolution`` is the spike time precision in seconds (one over the sampling rate).
    """

    probe: str
    unit_ids: Sequence[int]
    spike_times: Sequence[np.ndarray]
    resolution: float | None = None
    shanks: Sequence[int] | None = None
    waveform_mean: np.ndarray | None = None
    waveform_median: np.ndarray | None = None
    extra_columns: Mapping[str, ExtraColumn] = field(default_factory=dict)


@dataclass(frozen=True)
class DigitalEvents:
    """Times (s, session clock) and values of one digital line or event stream."""

    timestamps: np.ndarray
    values: np.ndarray
    description: str = "digital events"


@dataclass(frozen=True)
class AnalogStream:
    """Analog inputs of an acquisition board (e.g. NI-DAQ) sharing one gain, read chunk by chunk.

    ``samples`` is samples x channels (integers); ``volts_per_bit`` turns them into volts.
    """

    name: str
    samples: SampleArray
    sampling_rate: float
    volts_per_bit: float
    channel_names: Sequence[str]
    description: str
    starting_time: float = 0.0


@dataclass(frozen=True)
class TrialsExport:
    """Trials of a task: start and stop times (s, session clock) and per-trial columns (task variables)."""

    start_time: np.ndarray
    stop_time: np.ndarray
    columns: Mapping[str, ExtraColumn] = field(default_factory=dict)


@dataclass(frozen=True)
class SessionExport:
    """Everything written into one NWB file.

    ``surgery`` is free text describing the subject's procedures (NWB's ``surgery`` field).
    """

    subject: SubjectInfo
    session: SessionInfo
    probes: Sequence[ProbeExport] = ()
    units: Sequence[UnitsExport] = ()
    events: Mapping[str, DigitalEvents] = field(default_factory=dict)
    analog: Sequence[AnalogStream] = ()
    trials: TrialsExport | None = None
    surgery: str | None = None


def missing_for_dandi(export: SessionExport) -> list[str]:
    """What DANDI requires that ``export`` lacks, as ``"table.field (why)"`` strings; empty when complete."""
    subject, session = export.subject, export.session
    missing = []
    if not subject.subject_id:
        missing.append("Subject.subject_id")
    if not subject.species or not re.fullmatch(r"[A-Z][a-z]+ [a-z]+( [a-z]+)?", subject.species):
        missing.append(f"Subject.species (a Latin binomial such as 'Mus musculus', got {subject.species!r})")
    if subject.sex not in SEXES:
        missing.append(f"Subject.sex (one of M, F, U, O; got {subject.sex!r})")
    if subject.date_of_birth is None and not subject.age:
        missing.append("Subject.date_of_birth (or an age)")
    elif subject.date_of_birth is not None and subject.date_of_birth.tzinfo is None:
        missing.append("Subject.date_of_birth time zone")
    if session.start_time is None or session.start_time.tzinfo is None:
        missing.append("Session.start_time (with a time zone)")
    if not session.description:
        missing.append("Session.description")
    if not session.experimenters:
        missing.append("Session.experimenters")
    return missing


def _dandi_part(value: str) -> str:
    """``value`` as one DANDI path entity: letters, digits and hyphens only (other characters become '-')."""
    cleaned = re.sub(r"[^A-Za-z0-9-]+", "-", str(value)).strip("-")
    return re.sub("-{2,}", "-", cleaned)


def dandi_file_name(subject_id: str, session_id: str, modalities: Sequence[str]) -> str:
    """The DANDI-organised relative path ``sub-<subject>/sub-<subject>_ses-<session>_<modalities>.nwb``.

    Parameters
    ----------
    subject_id, session_id : str
        Lake names; characters other than letters, digits and '-' become '-'.
    modalities : sequence of str
        e.g. ``["ecephys", "behavior"]``, joined with '+' in DANDI's order-free spelling.

    Returns
    -------
    str
    """
    subject, session = _dandi_part(subject_id), _dandi_part(session_id)
    suffix = "+".join(sorted(_dandi_part(modality) for modality in modalities if modality))
    stem = f"sub-{subject}_ses-{session}" + (f"_{suffix}" if suffix else "")
    return f"sub-{subject}/{stem}.nwb"
