"""Raw samples handed to hdmf a block of rows at a time, so that no recording is ever held whole in memory."""

from __future__ import annotations

from typing import Any

import numpy as np
from hdmf.data_utils import GenericDataChunkIterator

from labdata.converters.nwb.description import SampleArray

__all__ = ["SampleChunkIterator"]


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
        chunk_rows = max(1, min(buffer_rows, (1 << 20) // max(1, channels * np.dtype(samples.dtype).itemsize)))
        buffer_rows -= buffer_rows % chunk_rows
        super().__init__(buffer_shape=(buffer_rows, channels), chunk_shape=(chunk_rows, channels),
                         display_progress=progress)

    def _get_data(self, selection: tuple[slice, ...]) -> np.ndarray:
        return np.asarray(self._samples[selection[0], selection[1]])

    def _get_maxshape(self) -> tuple[int, ...]:
        return tuple(int(size) for size in self._samples.shape)

    def _get_dtype(self) -> Any:
        return np.dtype(self._samples.dtype)
