"""Rows of an uncompressed SpikeGLX ``.bin`` (interleaved little-endian int16), read by offset.

NI-DAQ and OneBox files stay as they were recorded in the lake; exporting them reads a block of rows at a
time with positioned reads, so that neither a copy in memory nor a memory map (whose touched pages count as
resident) grows with the recording.

Examples
--------
>>> columns = InterleavedBinary("run_g0_t0.nidq.bin", n_saved_channels=9, columns=[0, 1])   # doctest: +SKIP
>>> columns[0:1000].shape                                                                # doctest: +SKIP
(1000, 2)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["InterleavedBinary"]

_SAMPLE = np.dtype("<i2")


class InterleavedBinary:
    """A samples x ``columns`` array-like over a local ``.bin`` with ``n_saved_channels`` columns per sample.

    Parameters
    ----------
    path : path
        The ``.bin`` file (trailing bytes of an incomplete last sample are ignored).
    n_saved_channels : int
        Columns per sample (``nSavedChans``).
    columns : sequence of int
        The columns this array exposes, in order.
    """

    def __init__(self, path: str | Path, n_saved_channels: int, columns: Sequence[int]) -> None:
        self.path = Path(path)
        self._n_saved = int(n_saved_channels)
        self._columns = np.asarray(columns, dtype=np.int64)
        if self._n_saved < 1 or (len(self._columns) and (self._columns.min() < 0 or self._columns.max()
                                                           >= self._n_saved)):
            raise ValueError(f"columns {self._columns.tolist()} do not fit {self._n_saved} saved channels")
        rows = self.path.stat().st_size // (_SAMPLE.itemsize * self._n_saved)
        self.shape: tuple[int, ...] = (int(rows), len(self._columns))
        self.dtype = _SAMPLE

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        rows, columns = key if isinstance(key, tuple) else (key, slice(None))
        start, stop, step = rows.indices(self.shape[0]) if isinstance(rows, slice) else (int(rows), int(rows) + 1, 1)
        block = self._read(start, max(start, stop))[::step]
        return block[:, self._columns][:, columns]

    def _read(self, start: int, stop: int) -> np.ndarray:
        row_bytes = _SAMPLE.itemsize * self._n_saved
        buffer = bytearray((stop - start) * row_bytes)
        with self.path.open("rb", buffering=0) as file:
            read = os.preadv(file.fileno(), [buffer], start * row_bytes) if buffer else 0
        return np.frombuffer(buffer[:read - read % row_bytes], dtype=_SAMPLE).reshape(-1, self._n_saved)
