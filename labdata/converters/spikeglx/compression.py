"""Lossless compression of SpikeGLX ``.bin`` files into one zipped Zarr array, verified before use.

Layout (chosen with ``benchmarks/ephys_ingest.py`` on every real ``.bin`` in the shared
data and a 60 s synthetic NP1.0 recording; see benchmarks/README.md):

* one Zarr v2 array, shape (samples, saved channels), int16, **column-major** (``order='F'``)
  chunks of :data:`CHUNK_SAMPLES` samples by every channel, so that inside a chunk each
  channel's samples are contiguous;
* filter :class:`~labdata.converters.spikeglx.codecs.DeltaZigZag`: on the column-major
  chunk, the difference along time, zigzag-mapped so that small differences of either
  sign have empty high bits (int16 arithmetic wraps losslessly);
* compressor ``Blosc(zstd, clevel 1, BITSHUFFLE)`` with Blosc's own block size. With the
  zigzag, zstd's fastest level beat mtscomp's ratio on every real file and ran at
  ~1 GB/s per chunk; ``Delta`` alone needed zstd 13 to beat it on the short files, at
  ~1/10 of the speed. Plain bitshuffle without the time difference lost to mtscomp on
  real data (SPEC §2). A recording shorter than a chunk is one chunk of its own length;
* the ``.meta`` as the array's attributes (``spikeglx_meta``), with the sampling rate,
  the microvolts per bit of every saved channel (``uv_per_bit``) and the source's name,
  size and SHA-1 (``source``);
* stored as a **zip of the Zarr store**, ``<name>.zarr.zip``
  (:mod:`labdata.converters.zarrzip`; chunks not re-compressed): one object on the
  storage, one File row, whose MD5 therefore covers every chunk and every attribute. The
  same ``.bin`` always gives the same bytes. Plain ``zarr`` opens it
  (``zarr.open_array(zarr.storage.ZipStore(path))``) wherever labdata is installed.

:func:`compress_bin` checks the ``.bin`` against its meta (size, SHA-1) first, writes to a
temporary name, reopens the written file and compares every chunk with the source before
the ``.zarr.zip`` appears under its name: a crash leaves no half-written store behind.
Chunks are encoded and checked on a few threads.

Examples
--------
>>> out = compress_bin(bin_path, meta)                          # doctest: +SKIP
>>> RawRecording.open(out.path)[:30000, :384].shape             # doctest: +SKIP
(30000, 384)
"""

from __future__ import annotations

import os
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from labdata.converters.zarrzip import ArraySpec, ZarrZipArray, ZarrZipWriter
from labdata.core.digest import file_digest
from labdata.core.errors import RecordingFormatError

__all__ = ["CHUNK_SAMPLES", "CLEVEL", "Compressed", "array_spec", "check_bin_against_meta", "compress_bin",
           "zarr_zip_name"]

#: samples per chunk along time (0.1 s at 30 kHz): a random 1 s window decodes ~1.1 s of data
CHUNK_SAMPLES = 3000
#: Blosc compression level (zstd level 1)
CLEVEL = 1
#: Blosc block of a full chunk (~4 blocks of 3000 x 385 samples; 64-512 KiB all beat mtscomp, 512 KiB
#: stored 3% less and decoded 30% faster than Blosc's default 32 KiB); a shorter recording keeps the
#: default, which stored the short real files 5-20% smaller than 512 KiB
BLOCKSIZE = 512 << 10
#: a recording under this many bytes (the stubs of a few dozen samples) also tries CLEVEL_TINY and keeps
#: whichever is smaller: zstd level 9 gained 5% on one of them, at a cost of half a millisecond
TINY_ARRAY = 64 << 10
CLEVEL_TINY = 5
#: chunks encoded or checked at once (each on its own thread; Blosc and numpy release the GIL)
THREADS = max(1, min(4, os.cpu_count() or 1))
#: outputs from this size have their MD5 read while the chunks are checked
OVERLAP_MD5 = 4 << 20

Progress = Callable[[str], Any] | None


@dataclass(frozen=True)
class Compressed:
    """A written ``.zarr.zip``: its path, size and MD5, and the source's shape."""

    path: Path
    size: int
    md5: str
    n_samples: int
    n_channels: int


def zarr_zip_name(bin_path: str | Path) -> str:
    """``x.imec0.ap.bin`` -> ``x.imec0.ap.zarr.zip``."""
    name = Path(bin_path).name
    return (name[:-4] if name.endswith(".bin") else name) + ".zarr.zip"


def array_spec(n_samples: int, n_channels: int, clevel: int = CLEVEL) -> ArraySpec:
    """The Zarr array of a SpikeGLX recording of ``n_samples`` x ``n_channels`` (see the module notes)."""
    from numcodecs import Blosc

    from labdata.converters.spikeglx.codecs import DeltaZigZag

    chunk = max(1, min(CHUNK_SAMPLES, n_samples))
    blocksize = BLOCKSIZE if n_samples >= CHUNK_SAMPLES else 0
    return ArraySpec((n_samples, n_channels), (chunk, n_channels), "<i2", "F", [DeltaZigZag()],
                     Blosc(cname="zstd", clevel=clevel, shuffle=Blosc.BITSHUFFLE, blocksize=blocksize))


def _spec_for(bin_path: Path, n_samples: int, n_channels: int) -> tuple[ArraySpec, bytes | None]:
    """:func:`array_spec`, and for a recording of under TINY_ARRAY bytes (a single chunk) that chunk
    encoded at whichever level stores it smaller (so that it is not encoded again)."""
    spec = array_spec(n_samples, n_channels)
    if not 0 < 2 * n_samples * n_channels < TINY_ARRAY:
        return spec, None
    block = np.fromfile(bin_path, dtype="<i2", count=n_samples * n_channels).reshape(n_samples, n_channels)
    tried = [(candidate, candidate.encode(block)) for candidate in (spec, array_spec(n_samples, n_channels,
                                                                                       CLEVEL_TINY))]
    return min(tried, key=lambda pair: len(pair[1]))


def check_bin_against_meta(bin_path: Path, meta: Any, *, verify_sha1: bool = True) -> int:
    """Return the number of samples of ``bin_path``, or raise if it disagrees with its meta.

    Checks: the size equals ``fileSizeBytes`` (when the meta has it), is a whole number of
    samples of ``nSavedChans`` int16 channels, and the SHA-1 equals ``fileSHA1`` (when present
    and not CatGT's ``0``).
    """
    size = bin_path.stat().st_size
    frame = 2 * meta.n_saved_channels
    if meta.file_size_bytes is not None and size != meta.file_size_bytes:
        raise RecordingFormatError(
            f"{bin_path.name} has {size} bytes but its meta says fileSizeBytes={meta.file_size_bytes}: "
            "the file is truncated or is not the one the meta describes.",
            hint="Copy the .bin again from the acquisition computer; nothing was registered.")
    if size % frame:
        raise RecordingFormatError(
            f"{bin_path.name} has {size} bytes, not a whole number of samples of {meta.n_saved_channels} "
            "int16 channels (nSavedChans): the channel count disagrees with the data.",
            hint="Check that the .meta next to the .bin is its own; nothing was registered.")
    if verify_sha1 and meta.file_sha1 and meta.file_sha1 != "0":
        actual = file_digest(bin_path, "sha1")
        if actual.upper() != meta.file_sha1.upper():
            raise RecordingFormatError(
                f"{bin_path.name} has SHA-1 {actual.upper()}, but its meta says fileSHA1={meta.file_sha1}: "
                "the bytes changed after SpikeGLX wrote them.",
                hint="Copy the .bin again from the acquisition computer; nothing was registered.")
    return size // frame


def compress_bin(bin_path: str | Path, meta: Any, *, destination: str | Path | None = None,
                 progress: Progress = None, on_block: Callable[[np.ndarray], Any] | None = None,
                 check_meta: bool = True) -> Compressed:
    """Compress ``bin_path`` (described by ``meta``, a SpikeGLXMeta) into a verified ``.zarr.zip``.

    Parameters
    ----------
    bin_path : path
        The SpikeGLX binary.
    meta : SpikeGLXMeta
        Its parsed meta (:func:`labdata.converters.spikeglx.meta.read_meta`).
    destination : path, optional
        Where to write; default next to the source, named by :func:`zarr_zip_name`.
    progress : callable, optional
        Called with "compressing 40%" / "checking 40%" messages.
    on_block : callable, optional
        Called with each block (samples x channels) as it is read, in order: what else
        needs the whole file (sync edges, noise windows) reads it in the same pass.
    check_meta : bool
        Check size and SHA-1 against the meta first (off only to benchmark the codec on
        the truncated upstream fixtures).

    Raises
    ------
    RecordingFormatError
        The binary disagrees with its meta (size, SHA-1, channel count).
    """
    bin_path = Path(bin_path)
    if check_meta:
        n_samples = check_bin_against_meta(bin_path, meta)
    else:
        n_samples = bin_path.stat().st_size // (2 * meta.n_saved_channels)
    final = Path(destination) if destination else bin_path.with_name(zarr_zip_name(bin_path))
    temporary = final.with_name(f"{final.name}.{uuid.uuid4().hex[:8]}.labdata-part")
    spec, encoded = _spec_for(bin_path, n_samples, meta.n_saved_channels)
    try:
        _write(bin_path, temporary, spec, _attributes(bin_path, meta), progress, on_block, encoded)
        md5 = _checked_md5(bin_path, temporary, spec.shape, progress)
        os.replace(temporary, final)
    finally:
        temporary.unlink(missing_ok=True)
    return Compressed(final, final.stat().st_size, md5, *spec.shape)


def _checked_md5(bin_path: Path, written: Path, shape: tuple[int, int], progress: Progress) -> str:
    """Verify ``written`` against the source and return its MD5 (read on a second thread when large)."""
    if written.stat().st_size < OVERLAP_MD5:  # a thread costs more than it saves
        verify_zarr_zip(bin_path, written, shape, progress)
        return file_digest(written, "md5")
    with ThreadPoolExecutor(1) as pool:
        digest = pool.submit(file_digest, written, "md5")
        verify_zarr_zip(bin_path, written, shape, progress)
        return digest.result()


def _attributes(bin_path: Path, meta: Any) -> dict[str, Any]:
    return {"spikeglx_meta": meta.raw, "sampling_rate": float(meta.sampling_rate),
            "uv_per_bit": [float(g) for g in meta.uv_per_bit()],
            "source": {"name": bin_path.name, "size": bin_path.stat().st_size, "sha1": meta.file_sha1}}


def _source_block(descriptor: int, index: int, shape: tuple[int, int]) -> np.ndarray:
    """Samples ``[index * CHUNK_SAMPLES, ...)`` of the source (samples x channels), read with ``pread``."""
    n_samples, n_channels = shape
    start = index * CHUNK_SAMPLES
    count = min(CHUNK_SAMPLES, n_samples - start)
    data = os.pread(descriptor, 2 * count * n_channels, 2 * start * n_channels)
    if len(data) != 2 * count * n_channels:
        raise RecordingFormatError(f"The .bin ended before sample {start + count}.",
                                   hint="The file changed while it was read; run the upload again.")
    return np.frombuffer(data, dtype="<i2").reshape(count, n_channels)


def _in_order(tasks: Iterator[Callable[[], Any]], threads: int = THREADS) -> Iterator[Any]:
    """Run ``tasks`` on a few threads and yield their results in order (a bounded number in flight)."""
    with ThreadPoolExecutor(threads) as pool:
        in_flight: deque[Future] = deque()
        for task in tasks:
            in_flight.append(pool.submit(task))
            if len(in_flight) >= 2 * threads:
                yield in_flight.popleft().result()
        while in_flight:
            yield in_flight.popleft().result()


def _write(bin_path: Path, target: Path, spec: ArraySpec, attrs: dict[str, Any], progress: Progress,
           on_block: Callable[[np.ndarray], Any] | None, encoded: bytes | None = None) -> None:
    """Write ``target``; ``encoded`` is the stored bytes of a one-chunk array when already made."""
    n_chunks = spec.grid()[0]

    def encode(descriptor: int, index: int) -> Callable[[], tuple[np.ndarray, bytes]]:
        def task() -> tuple[np.ndarray, bytes]:
            block = _source_block(descriptor, index, spec.shape)
            return block, encoded if encoded is not None else spec.encode(_padded(block, spec.chunks))
        return task

    with open(bin_path, "rb") as source, ZarrZipWriter(target, spec, attrs) as writer:
        tasks = (encode(source.fileno(), i) for i in range(n_chunks))
        results = _in_order(tasks) if n_chunks > 1 else (task() for task in tasks)
        for index, (block, stored) in enumerate(results):
            writer.write_encoded((index, 0), stored)
            if on_block is not None:
                on_block(block)
            _report(progress, "compressing", index + 1, n_chunks)


def _padded(block: np.ndarray, chunks: tuple[int, int]) -> np.ndarray:
    """A Zarr v2 edge chunk has the full chunk shape; the samples past the end are zeros."""
    if block.shape[0] == chunks[0]:
        return block
    full = np.zeros(chunks, dtype=block.dtype)
    full[: block.shape[0]] = block
    return full


def verify_zarr_zip(bin_path: Path, written: Path, shape: tuple[int, int], progress: Progress = None) -> None:
    """Raise unless ``written`` decodes, chunk by chunk, to exactly the samples of ``bin_path``."""
    with ZarrZipArray(written) as array, open(bin_path, "rb") as source:
        if array.shape != shape:
            raise RecordingFormatError(
                f"The compressed copy of {bin_path.name} has shape {array.shape}, not {shape}.",
                hint="Run the upload again; nothing was registered.")
        n_chunks = array.spec.grid()[0]

        def check(index: int) -> Callable[[], int | None]:
            def task() -> int | None:
                block = _source_block(source.fileno(), index, shape)
                same = np.array_equal(array.chunk((index, 0))[: block.shape[0]], block)
                return None if same else index * CHUNK_SAMPLES
            return task

        tasks = (check(i) for i in range(n_chunks))
        for done, differs_at in enumerate(_in_order(tasks) if n_chunks > 1 else (t() for t in tasks), start=1):
            if differs_at is not None:
                raise RecordingFormatError(
                    f"The compressed copy of {bin_path.name} differs from it at sample {differs_at} onwards.",
                    hint="Run the upload again; if it happens again, report it: nothing was registered.")
            _report(progress, "checking", done, n_chunks)


def _report(progress: Progress, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(f"{stage} {done / max(total, 1):.0%}")
