"""SpikeInterface views of labdata's arrays: recordings read lazily, Neuropixels probes, sortings.

:class:`ArrayRecording` is a one-segment SpikeInterface recording over any array-like of
samples x channels (``shape``, ``dtype`` and ``array[rows, columns]``), such as a
:class:`~labdata.converters.spikeglx.reader.RawRecording`: ``get_traces`` reads only the
rows and channels asked for. :class:`ZarrZipRecording` is the same over a compressed
recording (``.zarr.zip``), opened from its path or a binary file object (e.g. on S3); its
microvolts per bit and sampling rate come from the file. Both pickle, so SpikeInterface's
``n_jobs > 1`` workers get them; a ``ZarrZipRecording`` opened from a local path also dumps
to JSON (``dump_to_json`` / ``spikeinterface.load``), as sorter containers need.

:func:`probe_from_channel_map` builds the probeinterface ``Probe`` of a channel map (x, y in
um and shank of each channel): the contacts of the Neuropixels part (shapes, ids and
contour as probeinterface's catalogue has them) at those positions.

:func:`sorting_from_units` and :func:`units_from_sorting` turn spike trains (in samples)
into a ``NumpySorting`` and back, checking what the lake requires of a sorting.

Examples
--------
>>> recording = ArrayRecording(np.zeros((300, 4), "int16"), 30000.0, gain_to_uV=[2.34] * 4)
>>> recording.get_traces(0, 10, channel_ids=[1, 3]).shape
(10, 2)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from probeinterface import Probe
from probeinterface.neuropixels_tools import build_neuropixels_probe
from spikeinterface.core import BaseRecording, BaseRecordingSegment, BaseSorting, NumpySorting

from labdata.converters.spikeglx.catalogue import default_part_for_imro_type
from labdata.converters.spikeglx.reader import RawRecording
from labdata.converters.zarrzip import local_path
from labdata.core.errors import DataError, RecordingFormatError

__all__ = ["ArrayRecording", "ZarrZipRecording", "checked_spike_train", "probe_from_channel_map", "single_segment",
           "sorting_from_units", "unit_number"]

#: contact side (um) of a probe whose part probeinterface does not know: that of NP1.0 and NP2.0 sites
DEFAULT_CONTACT_WIDTH = 12.0
POSITION_DECIMALS = 3


class ArrayRecording(BaseRecording):
    """A one-segment SpikeInterface recording over an array-like of samples x channels, read lazily.

    Parameters
    ----------
    traces : array-like
        Samples x columns, with ``shape``, ``dtype`` and ``traces[rows, columns]`` (a numpy
        array, a Zarr array, a :class:`RawRecording`). Kept, not copied.
    sampling_frequency : float
        Samples per second.
    channel_ids : sequence, optional
        One id per channel (default: the column numbers).
    channel_columns : sequence of int, optional
        The columns of ``traces`` that are the recording's channels, in channel order
        (default: every column). The rest (e.g. a SpikeGLX sync channel) is never read.
    gain_to_uV, offset_to_uV : sequence of float, optional
        Microvolts per unit and offset of each channel (``return_in_uV=True`` scales with them).
    """

    def __init__(self, traces: Any, sampling_frequency: float, channel_ids: Sequence[Any] | None = None,
                 channel_columns: Sequence[int] | None = None, gain_to_uV: Sequence[float] | None = None,  # noqa: N803 - SpikeInterface's spelling
                 offset_to_uV: Sequence[float] | None = None) -> None:  # noqa: N803
        columns = _checked_columns(channel_columns, int(traces.shape[1]))
        ids = columns.tolist() if channel_ids is None else list(channel_ids)
        if len(ids) != len(columns):
            raise DataError(f"{len(ids)} channel ids for {len(columns)} channels.",
                            hint="Give one channel id per channel column.")
        BaseRecording.__init__(self, float(sampling_frequency), ids, np.dtype(traces.dtype))
        self.add_recording_segment(ArrayRecordingSegment(traces, columns, float(sampling_frequency)))
        if gain_to_uV is not None:
            self.set_channel_gains(np.asarray(gain_to_uV, dtype=np.float32))
            self.set_channel_offsets(np.zeros(len(ids)) if offset_to_uV is None else np.asarray(offset_to_uV))
        self._kwargs = dict(traces=traces, sampling_frequency=float(sampling_frequency), channel_ids=ids,
                            channel_columns=columns.tolist(), gain_to_uV=_listed(gain_to_uV),
                            offset_to_uV=_listed(offset_to_uV))
        self._serializability["json"] = False  # the array itself is in the arguments


class ArrayRecordingSegment(BaseRecordingSegment):
    """The one segment of an :class:`ArrayRecording`: rows and channel columns read on demand."""

    def __init__(self, traces: Any, columns: np.ndarray, sampling_frequency: float) -> None:
        BaseRecordingSegment.__init__(self, sampling_frequency=sampling_frequency)
        self._traces, self._columns = traces, columns
        self._all_columns = bool(np.array_equal(columns, np.arange(traces.shape[1])))

    def get_num_samples(self) -> int:
        """Samples in the segment."""
        return int(self._traces.shape[0])

    def get_traces(self, start_frame: int | None = None, end_frame: int | None = None,
                   channel_indices: Any = None) -> np.ndarray:
        """Rows ``[start_frame, end_frame)`` of the channels at ``channel_indices`` (all when None)."""
        start = 0 if start_frame is None else int(start_frame)
        end = self.get_num_samples() if end_frame is None else int(end_frame)
        if channel_indices is None and self._all_columns:
            return np.asarray(self._traces[start:end, :])
        columns = self._columns if channel_indices is None else self._columns[channel_indices]
        return np.asarray(self._traces[start:end, np.atleast_1d(columns)])


class ZarrZipRecording(ArrayRecording):
    """A compressed recording (``.zarr.zip``, as labdata stores raw ephys) as a SpikeInterface recording.

    Parameters
    ----------
    source : str, path or binary file
        The local file, or an open seekable binary file of it (e.g. s3fs's). An ``open(path,
        "rb")`` object is read as its path (pickled and dumped as one).
    channel_columns, channel_ids : sequence, optional
        As :class:`ArrayRecording` (default: every column of the file).
    sampling_frequency : float, optional
        Default: the rate the file's attributes hold.
    gain_to_uV, offset_to_uV : sequence of float, optional
        Default: the file's microvolts per bit of each channel column, and 0.

    Attributes
    ----------
    spikeglx_meta : dict
        The SpikeGLX ``.meta`` the file keeps in its attributes (empty when it has none).
    """

    def __init__(self, source: str | Path | Any, channel_columns: Sequence[int] | None = None,
                 channel_ids: Sequence[Any] | None = None, sampling_frequency: float | None = None,
                 gain_to_uV: Sequence[float] | None = None,  # noqa: N803 - SpikeInterface's spelling
                 offset_to_uV: Sequence[float] | None = None) -> None:  # noqa: N803
        path = local_path(source)
        if path is not None and not isinstance(source, str | Path):
            source.close()  # read by path instead: os.pread from several threads, and it pickles
        source = path if path is not None else source
        reader = RawRecording.open(source, sampling_rate=sampling_frequency)
        columns = _checked_columns(channel_columns, reader.shape[1])
        gains = _file_gains(reader, columns) if gain_to_uV is None else gain_to_uV
        ArrayRecording.__init__(self, reader, reader.sampling_rate, channel_ids, columns.tolist(), gains,
                                offset_to_uV)
        self._kwargs = dict(source=source, channel_columns=columns.tolist(), channel_ids=self._kwargs["channel_ids"],
                            sampling_frequency=reader.sampling_rate, gain_to_uV=_listed(gains),
                            offset_to_uV=_listed(offset_to_uV))
        self._serializability["json"] = isinstance(source, str)
        self.spikeglx_meta: dict[str, Any] = reader.meta


def _file_gains(reader: RawRecording, columns: np.ndarray) -> list[float] | None:
    """Microvolts per bit of ``columns`` as the file's attributes give them (1 for columns past them)."""
    if reader.uv_per_bit is None:
        return None
    gains = np.ones(reader.shape[1])
    gains[:reader.uv_per_bit.size] = reader.uv_per_bit[:reader.shape[1]]
    return gains[columns].tolist()


def probe_from_channel_map(coords: np.ndarray, shanks: np.ndarray | None = None, probe_type: str | None = None,
                           part_number: str | None = None, contact_ids: Sequence[str] | None = None) -> Probe:
    """The probeinterface ``Probe`` of channels at ``coords``, wired to channels 0..N-1 in that order.

    Parameters
    ----------
    coords : array
        (N, 2) x, y in um of each channel (x including the shank's offset, as in
        probeinterface's Neuropixels catalogue and ProbeConfiguration.channel_coords).
    shanks : array, optional
        (N,) shank of each channel.
    probe_type : str, optional
        SpikeGLX ``imDatPrb_type`` (``"0"``, ``"24"``, ``"2013"``): its default part is tried
        after ``part_number``.
    part_number : str, optional
        SpikeGLX ``imDatPrb_pn`` (``"NP1032"``), which tells apart parts of one type. When
        probeinterface knows the part and every channel sits on one of its sites, the
        contacts are the part's (shapes, ``e12``/``s0e12`` ids, contour); otherwise they are
        squares of :data:`DEFAULT_CONTACT_WIDTH` um with ``contact_ids`` (default ``"0"``,
        ``"1"``, ...).
    contact_ids : sequence of str, optional
        Ids of the contacts when the part is unknown.
    """
    coords = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
    shank_ids = None if shanks is None else np.asarray(shanks).astype(int).astype(str)
    parts = [part_number, default_part_for_imro_type(str(probe_type)) if probe_type is not None else None]
    probe = next((found for part in dict.fromkeys(parts) if part is not None
                  and (found := _catalogue_probe(coords, shank_ids, part)) is not None), None)
    if probe is None:
        probe = Probe(ndim=2, si_units="um")
        probe.set_contacts(positions=coords, shapes="square", shape_params={"width": DEFAULT_CONTACT_WIDTH},
                           shank_ids=shank_ids)
        ids = [str(i) for i in range(len(coords))] if contact_ids is None else [str(c) for c in contact_ids]
        probe.set_contact_ids(ids)
        probe.create_auto_shape(probe_type="tip")
    probe.set_device_channel_indices(np.arange(len(coords)))
    return probe


def _catalogue_probe(coords: np.ndarray, shank_ids: np.ndarray | None, part: str) -> Probe | None:
    """The contacts of the probe part at ``coords`` (in that order), or None when a channel has no site there."""
    try:
        full = build_neuropixels_probe(part)
    except KeyError:  # a part probeinterface does not know
        return None
    sites = {_site_key(position, shank): index for index, (position, shank)
             in enumerate(zip(full.contact_positions, _shanks_of(full), strict=True))}
    wanted = [sites.get(_site_key(position, shank)) for position, shank
              in zip(coords, shank_ids if shank_ids is not None else [None] * len(coords), strict=True)]
    if any(index is None for index in wanted) or len(set(wanted)) != len(wanted):
        return None
    return full.get_slice(np.asarray(wanted, dtype=int))


def _shanks_of(probe: Probe) -> list[str | None]:
    shanks = probe.shank_ids
    return [None] * probe.get_contact_count() if shanks is None or not len(shanks) else [str(s) for s in shanks]


def _site_key(position: np.ndarray, shank: str | None) -> tuple[float, float, str]:
    """A site by its position and shank (a one-shank probe's shank is "0" whether it says so or not)."""
    x, y = np.round(np.asarray(position, dtype=np.float64), POSITION_DECIMALS)
    return float(x), float(y), "0" if shank in (None, "") else str(shank)


def sorting_from_units(unit_ids: Sequence[int], spike_trains: Sequence[np.ndarray], sampling_frequency: float,
                       properties: dict[str, np.ndarray] | None = None) -> NumpySorting:
    """A one-segment ``NumpySorting`` of spike trains in samples, with per-unit ``properties``."""
    trains = {int(unit): np.asarray(train, dtype=np.int64).ravel()
              for unit, train in zip(unit_ids, spike_trains, strict=True)}
    sorting = NumpySorting.from_unit_dict([trains], sampling_frequency=float(sampling_frequency))
    for name, values in (properties or {}).items():
        sorting.set_property(name, np.asarray(values))
    return sorting


def unit_number(unit_id: Any) -> int:
    """A SpikeInterface unit id as the lake's ``unit_id``: an integer, or a string of one ("12")."""
    if isinstance(unit_id, bool | np.bool_):
        raise _unit_id_error(unit_id)
    if isinstance(unit_id, int | np.integer):
        return int(unit_id)
    if isinstance(unit_id, str) and unit_id.strip().lstrip("-").isdigit():
        return int(unit_id)
    raise _unit_id_error(unit_id)


def _unit_id_error(unit_id: Any) -> DataError:
    return DataError(f"Unit id {_plain(unit_id)!r} is not an integer; the lake numbers units with integers.",
                     hint="Rename the units first, e.g. sorting.rename_units(np.arange(sorting.get_num_units())).")


def checked_spike_train(unit_id: Any, train: np.ndarray) -> np.ndarray:
    """The spike train of a unit as sorted uint64 samples, refusing non-integer and negative times."""
    train = np.asarray(train)
    if train.size and not np.issubdtype(train.dtype, np.integer):
        raise DataError(f"Unit {_plain(unit_id)!r} has spike times of type {train.dtype}, not sample indices.",
                        hint="Give spike times in samples (integers), e.g. np.round(seconds * rate).astype(int).")
    if train.size and int(train.min()) < 0:
        raise DataError(f"Unit {_plain(unit_id)!r} has a negative spike time ({int(train.min())}).",
                        hint="Spike times are samples from the start of the recording: drop or shift the "
                             "negative ones.")
    return np.sort(train.astype(np.uint64).ravel(), kind="stable")


def single_segment(sorting: BaseSorting) -> None:
    """Refuse a sorting of several segments (the lake holds one spike train per unit)."""
    if sorting.get_num_segments() != 1:
        raise RecordingFormatError(
            f"The sorting has {sorting.get_num_segments()} segments; a lake sorting has one.",
            hint="Sort (or concatenate) the segments as one recording, e.g. spikeinterface.concatenate_recordings.")


def _checked_columns(columns: Sequence[int] | None, n_columns: int) -> np.ndarray:
    if columns is None:
        return np.arange(n_columns)
    checked = np.asarray(columns, dtype=np.int64).ravel()
    if checked.size and (checked.min() < 0 or checked.max() >= n_columns):
        raise DataError(f"Channel columns {checked.min()}..{checked.max()} are outside the array's "
                        f"{n_columns} columns.", hint=f"Give columns between 0 and {n_columns - 1}.")
    return checked


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (for messages: 3, not np.int64(3))."""
    return value.item() if isinstance(value, np.generic) else value


def _listed(values: Sequence[float] | None) -> list[float] | None:
    return None if values is None else np.asarray(values, dtype=np.float64).tolist()
