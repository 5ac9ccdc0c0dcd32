"""Lossless compression of SpikeGLX ``.bin`` files into one zipped Zarr array, verified before use.

Layout (chosen with ``benchmarks/ephys_ingest.py`` on every real ``.bin`` in the shared
data and a 60 s synthetic NP1.0 recording; see benchmarks/README.md):

* one Zarr v2 array, shape (samples, saved channels), int16, **column-major** (``order='F'``)
  chunks of :data:`CHUNK_SAMPLES` samples by every channel, so that inside a chunk each
  channel's samples are contiguous;
* filters ``Delta('<i2')``: on the column-major chunk this is the difference along time
  (one wrap-around per channel boundary, int16 arithmetic wraps losslessly);
* compressor ``Blosc(zstd, BITSHUFFLE)`` with 1 MiB blocks, :data:`CLEVEL` 5 (zstd level 9;
  ~500 MB/s per chunk here), or :data:`CLEVEL_SMALL` 7 (zstd 13, ~160 MB/s) for recordings
  under 8 MiB, where it is what beats mtscomp on the short real files. Plain bitshuffle
  without the time difference lost to mtscomp on real data (SPEC §2). A recording
  shorter than a chunk is one chunk of its own length (no padding);
* the ``.meta`` as the array's attributes (``spikeglx_meta``), with the sampling rate,
  the microvolts per bit of every saved channel (``uv_per_bit``) and the source's name,
  size and SHA-1 (``source``);
* stored as a **zip of the Zarr store** (members not re-compressed), ``<name>.zarr.zip``:
  one object on the storage, one File row, whose MD5 therefore covers every chunk and
  every attribute. It is read lazily (the zip's central directory, then one range per
  chunk) locally or on S3.

:func:`compress_bin` checks the ``.bin`` against its meta (size, SHA-1) first, writes to a
temporary name, reopens the written file and compares every chunk with the source before
the ``.zarr.zip`` appears under its name: a crash leaves no half-written store behind.

Examples
--------
>>> out = compress_bin(bin_path, meta)                          # doctest: +SKIP
>>> open_zarr_zip(out.path)[:30000, :384].shape                 # doctest: +SKIP
(30000, 384)
"""

from __future__ import annotations

import hashlib
import os
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from labdata.core.errors import RecordingFormatError

__all__ = ["CHUNK_SAMPLES", "CLEVEL", "Compressed", "check_bin_against_meta", "compress_bin", "open_zarr_zip",
           "zarr_zip_name"]

#: samples per chunk along time (0.1 s at 30 kHz): a random 1 s window decodes ~1.1 s of data
CHUNK_SAMPLES = 3000
#: Blosc compression level (zstd level 9) of recordings of at least SMALL_ARRAY bytes
CLEVEL = 5
#: level (zstd 13) of shorter recordings: its stronger match finder gained 3-28% on the short real
#: files (which clevel 5 compressed below mtscomp) and costs little on a few MB
CLEVEL_SMALL = 7
SMALL_ARRAY = 8 << 20
BLOCKSIZE = 1 << 20
SHA1_BLOCK = 1 << 24

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


def codec(n_bytes: int) -> tuple[list[Any], Any]:
    """The (filters, compressor) of a raw SpikeGLX array of ``n_bytes``."""
    from numcodecs import Blosc, Delta

    level = CLEVEL_SMALL if n_bytes < SMALL_ARRAY else CLEVEL
    return [Delta(dtype="<i2")], Blosc(cname="zstd", clevel=level, shuffle=Blosc.BITSHUFFLE, blocksize=BLOCKSIZE)


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
        actual = _file_digest(bin_path, "sha1")
        if actual.upper() != meta.file_sha1.upper():
            raise RecordingFormatError(
                f"{bin_path.name} has SHA-1 {actual.upper()}, but its meta says fileSHA1={meta.file_sha1}: "
                "the bytes changed after SpikeGLX wrote them.",
                hint="Copy the .bin again from the acquisition computer; nothing was registered.")
    return size // frame


def _file_digest(path: Path, algorithm: str) -> str:
    """The hex digest (``sha1``, ``md5``) of a file, read in large blocks."""
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as reader:
        while block := reader.read(SHA1_BLOCK):
            digest.update(block)
    return digest.hexdigest()


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
    shape = (n_samples, meta.n_saved_channels)
    try:
        _write(bin_path, temporary, shape, meta, progress, on_block)
        _verify(bin_path, temporary, shape, progress)
        md5 = _file_digest(temporary, "md5")
        os.replace(temporary, final)
    finally:
        temporary.unlink(missing_ok=True)
    return Compressed(final, final.stat().st_size, md5, *shape)


def _source_blocks(bin_path: Path, shape: tuple[int, int]):  # noqa: ANN202
    """(start, block) over the source, CHUNK_SAMPLES at a time."""
    n_samples, n_channels = shape
    with open(bin_path, "rb") as reader:
        for start in range(0, n_samples, CHUNK_SAMPLES):
            count = min(CHUNK_SAMPLES, n_samples - start)
            block = np.fromfile(reader, dtype="<i2", count=count * n_channels)
            yield start, block.reshape(count, n_channels)


def _write(bin_path: Path, target: Path, shape: tuple[int, int], meta: Any, progress: Progress,
           on_block: Callable[[np.ndarray], Any] | None) -> None:
    import zarr

    filters, compressor = codec(2 * shape[0] * shape[1])
    store = zarr.storage.ZipStore(str(target), mode="w", compression=zipfile.ZIP_STORED)
    try:
        chunk = max(1, min(CHUNK_SAMPLES, shape[0]))
        array = zarr.create(shape=shape, chunks=(chunk, shape[1]), dtype="<i2", order="F",
                            filters=filters, compressor=compressor, store=store, fill_value=0)
        array.attrs.update({"spikeglx_meta": meta.raw, "sampling_rate": float(meta.sampling_rate),
                            "uv_per_bit": [float(g) for g in meta.uv_per_bit()],
                            "source": {"name": bin_path.name, "size": bin_path.stat().st_size,
                                       "sha1": meta.file_sha1}})
        for start, block in _source_blocks(bin_path, shape):
            array[start:start + block.shape[0]] = block
            if on_block is not None:
                on_block(block)
            _report(progress, "compressing", start + block.shape[0], shape[0])
    finally:
        store.close()


def _verify(bin_path: Path, written: Path, shape: tuple[int, int], progress: Progress) -> None:
    from labdata.converters.spikeglx.reader import RawRecording

    array = RawRecording(open_zarr_zip(written), sampling_rate=1.0)
    if array.shape != shape:
        raise RecordingFormatError(f"The compressed copy of {bin_path.name} has shape {array.shape}, not {shape}.",
                                   hint="Run the upload again; nothing was registered.")
    for start, block in _source_blocks(bin_path, shape):
        if not np.array_equal(array[start:start + block.shape[0]], block):
            raise RecordingFormatError(
                f"The compressed copy of {bin_path.name} differs from it at samples {start}-{start + len(block)}.",
                hint="Run the upload again; if it happens again, report it: nothing was registered.")
        _report(progress, "checking", start + block.shape[0], shape[0])


def _report(progress: Progress, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(f"{stage} {done / max(total, 1):.0%}")


def open_zarr_zip(source: str | Path | Any) -> Any:
    """Open a ``.zarr.zip`` read-only: a local path, or an open binary file (e.g. from s3fs).

    Only the zip's directory is read now; each slice reads the chunks it needs.
    """
    import zarr

    if isinstance(source, str | Path):
        return zarr.open_array(store=zarr.storage.ZipStore(str(source), mode="r"), mode="r")
    from fsspec.implementations.zip import ZipFileSystem

    return zarr.open_array(store=ZipFileSystem(fo=source).get_mapper(""), mode="r")
