"""The ``ephys`` upload rule: SpikeGLX recordings to verified compressed Zarr plus their catalog rows.

``apply`` (on the upload server, before anything is stored):

1. parses every ``.meta`` of the job; a malformed one fails the job;
2. checks every ``.bin`` against its meta (size = ``fileSizeBytes``, SHA-1 = ``fileSHA1``
   when present, a whole number of ``nSavedChans`` samples); any disagreement fails the
   job with the reason, and nothing is registered;
3. compresses each imec ``.ap.bin`` / ``.lf.bin`` into ``.zarr.zip``
   (:mod:`labdata.converters.spikeglx.compression`), verified chunk by chunk; the ``.bin``
   is recorded in ProcessedFile and not uploaded. The same pass collects the sync word's
   transitions; the AP band's noise windows are read afterwards;
4. reads the digital lines of NI-DAQ / OneBox ``.bin`` files (uploaded as they are).

``register`` (in the transaction that registers the files) inserts Probe,
ProbeConfiguration (an identical one is reused), EphysRecording, ProbeSetting,
ProbeFile, EphysRecordingNoiseStats, and DatasetEvents ``nidq``/``obx`` (seconds) and
``imec<N>`` (samples) with one Digital row per line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from labdata.converters.spikeglx.compression import check_bin_against_meta, compress_bin, zarr_zip_name
from labdata.converters.spikeglx.events import EdgeCollector
from labdata.converters.spikeglx.meta import SpikeGLXMeta, read_meta
from labdata.converters.spikeglx.noise import noise_stats
from labdata.core.errors import RecordingFormatError, UploadError
from labdata.schema.ephys_methods import (
    ProbeStream,
    StreamEvents,
    natural_order,
    register_spikeglx,
    stream_events_of,
)
from labdata.upload.rules import RuleOutput, SourceFile, UploadRule
from labdata.upload.server import storage_of

__all__ = ["EphysRule"]

NOISE_SECONDS = 30.0


class EphysRule(UploadRule):
    """SpikeGLX ``.ap.bin``/``.lf.bin`` -> ``.zarr.zip``; probes, recording, noise and events registered."""

    name: ClassVar[str] = "ephys"
    max_concurrent: ClassVar[int] = 2

    def __init__(self) -> None:
        self._probes: list[ProbeStream] = []
        self._events: dict[str, StreamEvents] = {}

    def apply(self, job: Mapping[str, Any], sources: list[SourceFile],
              progress: Callable[[str], None]) -> RuleOutput:
        """Check, compress and read the job's SpikeGLX files (see the module docstring)."""
        if not all(job.get(n) for n in ("subject_name", "session_name", "dataset_name")):
            raise UploadError(f"Job {job['job_id']} names no dataset; the ephys rule registers recordings "
                              "in one.", hint="Put the files again with -a SUBJECT -s SESSION -d DATASET.")
        metas = {s.path: read_meta(s.local) for s in sources if s.path.endswith(".meta")}
        output, sync, noise = RuleOutput(), {}, {}
        for source in sources:
            if not source.path.endswith(".bin"):
                output.upload.append(source)
                continue
            meta = _meta_of(source, metas)
            if meta.stream == "imec":
                compressed, sync[source.path], noise[source.path] = self._compress(source, meta, progress)
                output.upload.append(compressed)
                output.processed.append(source)
            else:
                check_bin_against_meta(source.local, meta)
                self._events[meta.stream] = stream_events_of(meta, source.local)
                output.upload.append(source)
        self._probes, imec_events = _probes(metas, output.upload, storage_of(dict(job)), noise, sync)
        self._events.update(imec_events)
        return output

    def _compress(self, source: SourceFile, meta: SpikeGLXMeta,
                  progress: Callable[[str], None]) -> tuple[SourceFile, EdgeCollector | None, Any]:
        collector = EdgeCollector() if meta.sync_channel is not None else None

        def collect(block: np.ndarray) -> None:
            if collector is not None:
                collector.add(block[:, meta.sync_channel])

        done = compress_bin(source.local, meta, progress=lambda m: progress(f"{Path(source.path).name}: {m}"),
                            on_block=collect)
        noise = _noise(source.local, meta) if meta.band == "ap" else None
        path = str(Path(source.path).with_name(zarr_zip_name(source.path)).as_posix())
        return replace(source, path=path, local=done.path, size=done.size, md5=done.md5), collector, noise

    def register(self, job: Mapping[str, Any], dataset: Mapping[str, str] | None,
                 uploaded: list[SourceFile]) -> None:
        """Insert the recording's rows (inside the transaction that registers the files)."""
        if dataset is None:
            raise UploadError("The ephys rule needs a dataset.", hint="Put the files again with -d DATASET.")
        register_spikeglx(dataset, self._probes, self._events)


def _meta_of(source: SourceFile, metas: Mapping[str, SpikeGLXMeta]) -> SpikeGLXMeta:
    meta_path = source.path[:-4] + ".meta"
    if meta_path not in metas:
        raise RecordingFormatError(f"{source.path} has no {Path(meta_path).name} next to it in this upload.",
                                   hint="Put the .bin together with the .meta SpikeGLX wrote for it.")
    return metas[meta_path]


def _noise(bin_path: Path, meta: SpikeGLXMeta) -> dict[str, np.ndarray]:
    data = np.memmap(bin_path, dtype="<i2", mode="r").reshape(-1, meta.n_saved_channels)
    return noise_stats(data, meta.sampling_rate, meta.uv_per_bit(), meta.channels.saved_index,
                       duration=NOISE_SECONDS)


def _probes(metas: Mapping[str, SpikeGLXMeta], uploaded: list[SourceFile], storage: str,
            noise: Mapping[str, Any], sync: Mapping[str, EdgeCollector | None]
            ) -> tuple[list[ProbeStream], dict[str, StreamEvents]]:
    """One ProbeStream per ``.ap.meta``, in natural order (probe_num = position), with its files, and
    the ``imec<probe_num>`` streams of their AP sync words (timestamps in AP samples)."""
    probes, events = [], {}
    for path in sorted((p for p in metas if p.endswith(".ap.meta")), key=natural_order):
        prefix = path[: -len("ap.meta")]
        files = [f.path for f in uploaded if f.path.startswith(prefix)]
        probes.append(ProbeStream(metas[path], files, storage, noise.get(prefix + "ap.bin")))
        collector = sync.get(prefix + "ap.bin")
        if collector is not None:
            events[f"imec{len(probes) - 1}"] = StreamEvents(collector.edges(), rate=None)
    return probes, events
