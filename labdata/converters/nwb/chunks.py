"""Raw samples handed to hdmf a block of rows at a time, so that no recording is ever held whole in memory;
or, compressed, written chunk by chunk into an HDF5 dataset hdmf created empty (:func:`write_gzip_chunks`)."""

from __future__ import annotations

import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import numpy as np
from hdmf.data_utils import GenericDataChunkIterator
from tqdm.auto import tqdm

from labdata.converters.nwb.description import SampleArray

__all__ = ["SampleChunkIterator", "chunk_rows_of", "write_gzip_chunks"]


class SampleChunkIterator(GenericDataChunkIterator):
    """Iterate over a samples x channels array-like in buffers of whole rows.

    Parameters
    ----------
    samples : SampleArray
        Anything with ``shape``, ``dtype`` and ``samples[start:stop, :]`` (a Zarr array, a memmap).
    buffer_rows : int
        Rows read per request; the buffer spans every channel.
    progress : bool
        Show a progress bar while writing.
    """

    def __init__(self, samples: SampleArray, *, buffer_rows: int = 30_000, progress: bool = False) -> None:
        self._samples = samples
        rows, channels = (int(size) for size in samples.shape)
        buffer_rows = max(1, min(buffer_rows, rows))
        chunk_rows = chunk_rows_of(channels, np.dtype(samples.dtype).itemsize, buffer_rows)
        buffer_rows -= buffer_rows % chunk_rows
        super().__init__(buffer_shape=(buffer_rows, channels), chunk_shape=(chunk_rows, channels),
                         display_progress=progress)

    def _get_data(self, selection: tuple[slice, ...]) -> np.ndarray:
        return np.asarray(self._samples[selection[0], selection[1]])

    def _get_maxshape(self) -> tuple[int, ...]:
        return tuple(int(size) for size in self._samples.shape)

    def _get_dtype(self) -> Any:
        return np.dtype(self._samples.dtype)


def chunk_rows_of(channels: int, itemsize: int, buffer_rows: int) -> int:
    """Rows of an HDF5 chunk spanning every channel: about 1 MiB, at most ``buffer_rows``."""
    return max(1, min(buffer_rows, (1 << 20) // max(1, channels * itemsize)))


def write_gzip_chunks(dataset: Any, samples: SampleArray, *, level: int, buffer_rows: int = 30_000,
                      threads: int | None = None, progress: bool = False) -> None:
    """Fill the chunked, gzip-filtered HDF5 ``dataset`` with ``samples``, compressing chunks on ``threads`` threads.

    h5py compresses chunk by chunk on one thread inside HDF5; here each buffer of ``buffer_rows`` rows is cut
    into the dataset's chunks, deflated with :func:`zlib.compress` (HDF5's gzip filter is zlib's format; zlib
    releases the GIL) on a thread pool, and stored with ``write_direct_chunk``. Edge chunks are zero-padded to
    the chunk shape, as HDF5 stores them.
    """
    chunk_rows, channels = dataset.chunks
    if channels != dataset.shape[1]:
        raise ValueError(f"chunks {dataset.chunks} must span every channel of {dataset.shape}")
    rows = int(dataset.shape[0])
    step = max(chunk_rows, buffer_rows - buffer_rows % chunk_rows)
    workers = threads or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool, tqdm(total=rows, unit="row", unit_scale=True,
                                                    disable=not progress) as bar:
        for start in range(0, rows, step):
            block = np.ascontiguousarray(samples[start:min(start + step, rows), :], dtype=dataset.dtype)
            offsets = range(0, len(block), chunk_rows)
            compressed = pool.map(partial(_deflate, block, chunk_rows, level), offsets)
            for first, data in zip(offsets, compressed, strict=True):
                dataset.id.write_direct_chunk((start + first, 0), data)
            bar.update(len(block))


def _deflate(block: np.ndarray, chunk_rows: int, level: int, first: int) -> bytes:
    """The chunk of ``block`` starting at row ``first``, zero-padded to ``chunk_rows`` rows, deflated (zlib)."""
    rows = block[first:first + chunk_rows]
    if len(rows) < chunk_rows:
        padded = np.zeros((chunk_rows, *rows.shape[1:]), dtype=rows.dtype)
        padded[:len(rows)] = rows
        rows = padded
    return zlib.compress(np.ascontiguousarray(rows).data, level)
