"""Methods of the ephys tables: register SpikeGLX recordings, read them lazily, extract events.

The ``ephys`` upload rule (:mod:`labdata.upload.ephys_rule`) computes everything from the
files while they are on the upload server and calls :func:`register_spikeglx` inside the
transaction that registers the files. The same rows can be rebuilt from the lake's files
with ``(EphysRecording & key).add_spikeglx_recording()`` and ``.add_nidq_events()``.

Every method reads and writes the tables of the lake and project of the table it is
called on (``load_project_schema("other").EphysRecording.ProbeSetting & key`` reads
``other``'s ProbeFile rows), whatever the current context.

Reading: ``(EphysRecording.ProbeSetting & key).open(band='ap')`` returns a
:class:`~labdata.converters.spikeglx.reader.RawRecording` (samples x channels) that reads
only the chunks a slice needs, from a local copy when ``local_paths`` holds one, else
straight from the storage; ``get_samples`` and ``get_window`` are shortcuts.

Examples
--------
>>> raw = (EphysRecording.ProbeSetting & key).open(band="ap")                 # doctest: +SKIP
>>> times, data = (EphysRecording.ProbeSetting & key).get_window(10.0, 1.0)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from labdata.converters.spikeglx.events import LineEdges, digital_edges
from labdata.converters.spikeglx.noise import noise_stats
from labdata.converters.spikeglx.reader import RawRecording
from labdata.core.errors import QueryError, RecordingFormatError
from labdata.schema.general import Dataset, DatasetEvents, File
from labdata.stores import open_store

if TYPE_CHECKING:
    from labdata.catalog.engine.context import Context
    from labdata.converters.spikeglx.meta import SpikeGLXMeta

__all__ = ["EphysRecordingMethods", "NoiseStatsMethods", "ProbeConfigurationMethods", "natural_order",
           "ProbeSettingMethods", "ProbeStream", "StreamEvents", "register_spikeglx"]

SOFTWARE = "spikeglx"
GAIN_TOLERANCE = 1e-6


@dataclass
class ProbeStream:
    """One probe of a recording as the rule saw it: its AP (or LF) meta, its files, its noise statistics."""

    meta: SpikeGLXMeta
    files: list[str]
    storage: str
    noise: dict[str, np.ndarray] | None = None


@dataclass
class StreamEvents:
    """Digital events of one stream: transitions per line, and the rate that turns samples into seconds.

    ``rate=None`` keeps the timestamps in samples (the imec sync, as spike times are samples).
    """

    edges: dict[int, LineEdges] = field(default_factory=dict)
    rate: float | None = None


def register_spikeglx(dataset: Mapping[str, str], probes: Sequence[ProbeStream],
                      events: Mapping[str, StreamEvents], context: Context | None = None) -> None:
    """Insert Probe, ProbeConfiguration, EphysRecording, ProbeSetting, ProbeFile, noise stats and events.

    Runs in the caller's transaction; every insert skips rows that exist, so a re-run adds nothing.

    Parameters
    ----------
    dataset : mapping
        subject_name, session_name, dataset_name.
    probes : sequence of ProbeStream
        One per probe, in probe_num order.
    events : mapping
        Stream name -> its digital events.
    context : Context, optional
        The lake and project to write (default: the current context, as the upload server sets it).
    """
    from labdata.schema.ephys import EphysRecording, EphysRecordingNoiseStats

    if probes:
        EphysRecording(context).insert1(dict(dataset, n_probes=len(probes), recording_software=SOFTWARE,
                                             recording_duration=_duration(probes[0].meta)),
                                        skip_duplicates=True, allow_direct_insert=True)
    for number, probe in enumerate(probes):
        configuration = _configuration_for(probe.meta, context)
        setting = dict(dataset, probe_num=number)
        EphysRecording.ProbeSetting(context).insert1(
            dict(setting, **configuration, sampling_rate=probe.meta.sampling_rate),
            skip_duplicates=True, allow_direct_insert=True)
        EphysRecording.ProbeFile(context).insert([dict(setting, file_path=path, storage=probe.storage)
                                                  for path in probe.files],
                                                 skip_duplicates=True, allow_direct_insert=True)
        if probe.noise is not None:
            EphysRecordingNoiseStats(context).insert1(dict(setting, **probe.noise), skip_duplicates=True,
                                                      allow_direct_insert=True)
    for stream, stream_events in events.items():
        insert_events(dataset, stream, stream_events, context)


def _duration(meta: SpikeGLXMeta) -> float:
    if meta.file_time_secs is not None:
        return float(meta.file_time_secs)
    if meta.n_samples_expected is not None:
        return meta.n_samples_expected / meta.sampling_rate
    return 0.0


def insert_events(dataset: Mapping[str, str], stream: str, events: StreamEvents,
                  context: Context | None = None) -> None:
    """One DatasetEvents row for ``stream`` and one Digital row per line that changed (in ``context``)."""
    DatasetEvents(context).insert1(dict(dataset, stream_name=stream), skip_duplicates=True,
                                   allow_direct_insert=True)
    rows = []
    for line, edges in events.edges.items():
        stamps = edges.samples if events.rate is None else edges.samples / events.rate
        rows.append(dict(dataset, stream_name=stream, event_name=str(line), event_timestamps=stamps,
                         event_values=edges.values))
    DatasetEvents.Digital(context).insert(rows, skip_duplicates=True, allow_direct_insert=True)


def _configuration_for(meta: SpikeGLXMeta, context: Context | None) -> dict[str, Any]:
    """The probe and configuration keys of ``meta`` in ``context``, inserted when new (an identical one is reused)."""
    from labdata.schema.ephys import Probe, ProbeConfiguration

    if not meta.probe_serial:
        raise RecordingFormatError(
            f"{meta.name} names no probe serial number (imDatPrb_sn).",
            hint="Register the probe by hand with ProbeConfiguration.add_from_spikeglx_metadata.")
    probe = {"probe_id": str(meta.probe_serial)}
    Probe(context).insert1(dict(probe, probe_type=str(meta.probe_type or "0"), probe_n_shanks=int(meta.n_shanks),
                                probe_recording_channels=len(meta.sites)), skip_duplicates=True)
    channels = meta.channels
    gain = float(meta.ap_uv_per_bit[0]) if len(meta.ap_uv_per_bit) else float("nan")
    configurations = ProbeConfiguration(context)
    existing = (configurations & probe).fetch(as_dict=True)
    for row in existing:
        if (np.array_equal(np.asarray(row["channel_idx"]), channels.saved_index)
                and np.allclose(np.asarray(row["channel_coords"]), channels.coords)
                and abs(float(row["probe_gain"]) - gain) <= GAIN_TOLERANCE * max(abs(gain), 1.0)):
            return dict(probe, configuration_id=int(row["configuration_id"]))
    number = max((int(r["configuration_id"]) for r in existing), default=0) + 1
    configurations.insert1(dict(probe, configuration_id=number, probe_n_channels=len(channels.saved_index),
                                probe_gain=gain, channel_idx=np.asarray(channels.saved_index, dtype=np.int64),
                                channel_shank=np.asarray(channels.shank, dtype=np.int64),
                                channel_coords=np.asarray(channels.coords, dtype=np.float64)))
    return dict(probe, configuration_id=number)


class ProbeConfigurationMethods:
    """Mixed into ProbeConfiguration."""

    def add_from_spikeglx_metadata(self, metadata: SpikeGLXMeta | str | Path) -> dict[str, Any]:
        """Insert the probe and configuration of an ``.ap.meta`` (path or parsed), reusing an identical one.

        Returns
        -------
        dict
            probe_id, configuration_id, sampling_rate, recording_software, recording_duration.
        """
        meta = read_meta(metadata) if isinstance(metadata, str | Path) else metadata
        context = self.context  # type: ignore[attr-defined]
        keys = context.lake.run(lambda: _configuration_for(meta, context))
        return dict(keys, sampling_rate=meta.sampling_rate, recording_software=SOFTWARE,
                    recording_duration=_duration(meta))


class ProbeSettingMethods:
    """Mixed into EphysRecording.ProbeSetting: lazy reads of a probe's raw data."""

    def band_files(self, band: str = "ap") -> list[dict[str, Any]]:
        """The File keys (file_path, storage) of this probe's ``band`` files."""
        from labdata.schema.ephys import EphysRecording

        _check_band(band)
        files = self._sibling(EphysRecording.ProbeFile) & self.fetch1("KEY")  # type: ignore[attr-defined]
        rows = files.fetch("file_path", "storage", as_dict=True)
        return [r for r in rows if f".{band}." in Path(r["file_path"]).name]

    def recording_file(self, band: str = "ap") -> dict[str, Any]:
        """The File key of this probe's compressed ``band`` recording (``.<band>.zarr.zip``)."""
        files = [f for f in self.band_files(band) if f["file_path"].endswith(f".{band}.zarr.zip")]
        if len(files) != 1:
            raise QueryError(f"This probe has {len(files)} {band} recordings in the lake, not one.",
                             hint="Select one probe of one recording, e.g. EphysRecording.ProbeSetting & key.")
        return files[0]

    def open(self, band: str = "ap", *, download: bool = False) -> RawRecording:
        """An array-like (samples x channels, int16) over this probe's ``band`` data, read lazily.

        A copy under ``local_paths`` is read from disk; otherwise chunks are read from the
        storage as slices need them (``download=True`` fetches the whole file first).
        """
        return RawRecording.open(self.recording_source(band, download=download))

    def recording_source(self, band: str = "ap", *, download: bool = False) -> Path | Any:
        """Where this probe's ``band`` recording is read from: a local path, or a binary file open on the storage.

        The path of a copy under ``local_paths`` (or, with ``download=True``, of the copy
        fetched into it); otherwise the storage's file object, read by ranges as it is read.
        """
        target = self._sibling(File) & self.recording_file(band)  # type: ignore[attr-defined]
        found, _ = target.check_if_files_local()
        if found or download:
            return found[0] if found else target.get(progress=False)[0]
        key = target.fetch1("KEY")
        return open_store(target.context.prefs(), key["storage"]).open(key["file_path"])

    def get_samples(self, start: int, stop: int | None = None, n_samples: int | None = None,
                    channels: Sequence[int] | None = None, band: str = "ap", units: str = "raw",
                    reader: RawRecording | None = None) -> np.ndarray:
        """Samples ``[start, stop)`` of ``channels`` (``units='raw'`` int16 or ``'uV'``)."""
        reader = reader if reader is not None else self.open(band)
        return reader.get_samples(start, stop, n_samples=n_samples, channels=channels, units=units)

    def get_window(self, start: float = 0.0, duration: float = 1.0, channels: Sequence[int] | None = None,
                   band: str = "ap", units: str = "uV", reader: RawRecording | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
        """(times in s, data) of ``duration`` seconds from ``start``, in the probe's clock."""
        reader = reader if reader is not None else self.open(band)
        return reader.get_window(start, duration, channels=channels, units=units)


def _check_band(band: str) -> None:
    if band not in ("ap", "lf"):
        raise QueryError(f"Unknown band {band!r}.", hint="Use band='ap' or band='lf'.")


class EphysRecordingMethods:
    """Mixed into EphysRecording: rebuild its rows from the lake's files."""

    def add_spikeglx_recording(self, key: Mapping[str, Any] | None = None) -> None:
        """Insert the probe rows of each selected dataset from its ``.ap.meta`` files (fetched if needed)."""
        context = self.context  # type: ignore[attr-defined]
        for dataset in self._datasets(key):
            probes = [ProbeStream(read_meta(path), _probe_files(context, row["file_path"], dataset), row["storage"])
                      for row, path in _files_of(context, dataset, ".ap.meta")]
            context.lake.run(lambda d=dataset, p=probes: register_spikeglx(d, p, {}, context))

    def add_nidq_events(self, key: Mapping[str, Any] | None = None) -> None:
        """Insert DatasetEvents ``nidq`` (or ``obx``) with one Digital row per line of each selected dataset."""
        context = self.context  # type: ignore[attr-defined]
        streams, files = self._sibling(DatasetEvents), self._sibling(File)  # type: ignore[attr-defined]
        for dataset in self._datasets(key):
            for stream in ("nidq", "obx"):
                if streams & dict(dataset, stream_name=stream):
                    break
                metas = _files_of(context, dataset, f".{stream}.meta")
                if metas:
                    row, meta_path = metas[0]
                    binary = files & dict(row, file_path=row["file_path"][:-5] + ".bin")
                    events = stream_events_of(read_meta(meta_path), binary.get(progress=False)[0])
                    context.lake.run(lambda d=dataset, s=stream, e=events: insert_events(d, s, e, context))
                    break

    def _datasets(self, key: Mapping[str, Any] | None) -> list[dict[str, str]]:
        selection = self if key is None else self & key  # type: ignore[operator]
        return selection.proj().fetch(as_dict=True)  # type: ignore[union-attr]


class NoiseStatsMethods:
    """Mixed into EphysRecordingNoiseStats: ``make`` reads the two windows from the compressed AP data."""

    def make(self, key: Mapping[str, Any]) -> None:
        """Compute the statistics of one probe (``populate`` calls this per missing key)."""
        from labdata.schema.ephys import EphysRecording, ProbeConfiguration

        setting = self._sibling(EphysRecording.ProbeSetting) & dict(key)  # type: ignore[attr-defined]
        reader = setting.open("ap")
        configurations = self._sibling(ProbeConfiguration)  # type: ignore[attr-defined]
        channel_idx = (configurations & setting.proj("probe_id", "configuration_id")).fetch1("channel_idx")
        stats = noise_stats(reader, reader.sampling_rate, reader.uv_per_bit, channel_idx,
                            duration=self.duration)  # type: ignore[attr-defined]
        self.insert1(dict(key, **stats))  # type: ignore[attr-defined]


def stream_events_of(meta: SpikeGLXMeta, bin_path: Path) -> StreamEvents:
    """The digital events of a nidq/obx ``.bin`` (every digital word column, lines numbered across words)."""
    events = StreamEvents(rate=meta.sampling_rate)
    for word, column in enumerate(np.asarray(meta.digital_channels, dtype=int)):
        for line, edges in digital_edges(bin_path, meta.n_saved_channels, int(column)).items():
            events.edges[16 * word + line] = edges
    return events


def _files_of(context: Context, dataset: Mapping[str, str], suffix: str) -> list[tuple[dict[str, Any], Path]]:
    """(File key, local path) of the dataset's files ending in ``suffix``, in natural order, fetched if needed."""
    rows = [r for r in (Dataset.DataFiles(context) & dict(dataset)).fetch("file_path", "storage", as_dict=True)
            if r["file_path"].endswith(suffix)]
    rows.sort(key=lambda r: natural_order(r["file_path"]))
    return [(row, (File(context) & row).get(progress=False)[0]) for row in rows]


def _probe_files(context: Context, meta_path: str, dataset: Mapping[str, str]) -> list[str]:
    """The dataset's files of the probe whose ``.ap.meta`` is ``meta_path``."""
    prefix = meta_path[: meta_path.rindex(".ap.meta")] + "."
    return [p for p in (Dataset.DataFiles(context) & dict(dataset)).fetch("file_path") if p.startswith(prefix)]


def natural_order(text: str) -> list[Any]:
    """Sort key putting ``imec2`` before ``imec10``."""
    import re

    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def read_meta(path: str | Path) -> SpikeGLXMeta:
    """Parse a SpikeGLX ``.meta`` (the converter is imported on first use)."""
    from labdata.converters.spikeglx.meta import read_meta as parse

    return parse(path)
