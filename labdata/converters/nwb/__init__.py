"""NWB export: a session described as plain data (:class:`SessionExport`) written as a DANDI-valid NWB file.

:func:`write_nwb` writes HDF5 (default) or NWB-Zarr atomically; :func:`missing_for_dandi` lists what DANDI
requires that a session lacks; :func:`dandi_file_name` gives the DANDI-organised path.
"""

from labdata.converters.nwb.chunks import SampleChunkIterator
from labdata.converters.nwb.description import (
    AnalogStream,
    DigitalEvents,
    Electrode,
    ExtraColumn,
    ProbeExport,
    RawRecording,
    SessionExport,
    SessionInfo,
    SubjectInfo,
    TrialsExport,
    UnitsExport,
    dandi_file_name,
    missing_for_dandi,
)
from labdata.converters.nwb.writer import build_nwbfile, inspection_summary, trusted_zarr_reading, write_nwb

__all__ = [
    "AnalogStream",
    "inspection_summary",
    "DigitalEvents",
    "Electrode",
    "ExtraColumn",
    "ProbeExport",
    "RawRecording",
    "SampleChunkIterator",
    "SessionExport",
    "SessionInfo",
    "SubjectInfo",
    "TrialsExport",
    "UnitsExport",
    "build_nwbfile",
    "dandi_file_name",
    "missing_for_dandi",
    "trusted_zarr_reading",
    "write_nwb",
]
