"""Lazy reads of a compressed SpikeGLX recording: an array-like of samples x channels.

``RawRecording`` wraps the Zarr array of a ``.zarr.zip`` (see
:mod:`labdata.converters.spikeglx.compression` and :mod:`labdata.converters.zarrzip`).
Slicing it reads only the chunks the slice covers; chunks are decoded on a small thread
pool (Blosc and numpy release the GIL).

Examples
--------
>>> raw = RawRecording.open("x.imec0.ap.zarr.zip")                 # doctest: +SKIP
>>> raw[30000:60000, :384].shape                                  # doctest: +SKIP
(30000, 384)
>>> times, data = raw.get_window(12.5, 0.5, channels=[0, 1])       # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from labdata.converters.zarrzip import ZarrZipArray
from labdata.core.errors import QueryError

__all__ = ["RawRecording"]

READ_THREADS = max(1, min(4, os.cpu_count() or 1))


class RawRecording:
    """Samples x channels int16 of one SpikeGLX stream, read chunk by chunk.

    Parameters
    ----------
    array : ZarrZipArray
        The recording (samples x saved channels), as :mod:`compression` writes it.
    sampling_rate : float
        Samples per second (from the catalog, or the meta kept in the array's attributes).
    uv_per_bit : array, optional
        Microvolts per bit of each saved channel, for ``units='uV'``. Both default to
        what the array's attributes hold.
    """

    def __init__(self, array: ZarrZipArray, sampling_rate: float | None = None,
                 uv_per_bit: np.ndarray | None = None) -> None:
        self.array = array
        self.meta = dict(array.attrs.get("spikeglx_meta", {}))
        rate = sampling_rate if sampling_rate is not None else array.attrs.get("sampling_rate")
        self.sampling_rate = float(rate if rate is not None else _rate_of(self.meta))
        gains = uv_per_bit if uv_per_bit is not None else array.attrs.get("uv_per_bit")
        self.uv_per_bit = None if gains is None else np.asarray(gains, dtype=np.float64)
        self._decode = _time_difference_decoder(array.spec)

    @classmethod
    def open(cls, source: str | Path | Any, **kwargs: Any) -> RawRecording:
        """Open a local ``.zarr.zip`` path or an open binary file of one (e.g. on S3)."""
        return cls(ZarrZipArray(source), **kwargs)

    shape = property(lambda self: self.array.shape)
    dtype = property(lambda self: self.array.dtype)
    ndim = 2

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return (f"<RawRecording {self.shape[0]} samples x {self.shape[1]} channels at {self.sampling_rate:g} Hz, "
                f"{self.shape[0] / self.sampling_rate:.3f} s>")

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        data = self[:]
        return data if dtype is None else data.astype(dtype)

    def close(self) -> None:
        self.array.close()

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its array (reopened on unpickling) with the rate and gains it uses."""
        return type(self), (self.array, self.sampling_rate, self.uv_per_bit)

    def __getitem__(self, key: Any) -> np.ndarray:
        rows, columns = key if isinstance(key, tuple) else (key, slice(None))
        selection = np.arange(self.shape[1])[columns]
        if isinstance(rows, slice) and rows.step in (None, 1):
            start, stop, _ = rows.indices(self.shape[0])
            return self._read_rows(start, max(start, stop), np.atleast_1d(selection)).reshape(
                (max(0, stop - start), *selection.shape))
        wanted = np.arange(self.shape[0])[rows]
        flat = np.atleast_1d(wanted)
        if flat.size == 0:
            return np.empty(wanted.shape + selection.shape, dtype=self.dtype)
        return self._gathered_rows(flat, np.atleast_1d(selection)).reshape(wanted.shape + selection.shape)

    def _gathered_rows(self, rows: np.ndarray, selection: np.ndarray) -> np.ndarray:
        """The given rows (any order, repeats allowed), decoding each chunk they fall in once."""
        step = self.array.chunks[0]
        out = np.empty((rows.size, len(selection)), dtype=self.dtype)
        chunk_of = rows // step
        for chunk in np.unique(chunk_of):
            here = chunk_of == chunk
            first = int(chunk) * step
            out[here] = self._read_rows(first, min(first + step, self.shape[0]), selection)[rows[here] - first]
        return out

    def _read_rows(self, start: int, stop: int, selection: np.ndarray) -> np.ndarray:
        """Rows [start, stop) of the ``selection`` channels, one task per chunk, decoded in parallel."""
        step = self.array.chunks[0]
        bounds = [(s, min(stop, (s // step + 1) * step)) for s in _chunk_starts(start, stop, step)]
        out = np.empty((stop - start, len(selection)), dtype=self.dtype)

        def read(bound: tuple[int, int]) -> None:
            index = bound[0] // step
            first, last = bound[0] - index * step, bound[1] - index * step
            out[bound[0] - start:bound[1] - start] = self._decode(self.array, index, selection, first, last)

        if len(bounds) <= 1:
            for bound in bounds:
                read(bound)
        else:
            with ThreadPoolExecutor(min(READ_THREADS, len(bounds))) as pool:
                list(pool.map(read, bounds))
        return out

    def get_samples(self, start: int, stop: int | None = None, *, n_samples: int | None = None,
                    channels: Sequence[int] | None = None, units: str = "raw") -> np.ndarray:
        """Samples ``[start, stop)`` (or ``n_samples`` from ``start``; default to the end) of ``channels``.

        ``units='uV'`` scales by each channel's microvolts per bit (float32).
        """
        stop = stop if stop is not None else (start + n_samples if n_samples is not None else self.shape[0])
        if not 0 <= start <= stop <= self.shape[0]:
            raise QueryError(f"Samples {start}:{stop} are outside the recording (0:{self.shape[0]}).",
                             hint=f"Ask for samples between 0 and {self.shape[0]}.")
        selected = slice(None) if channels is None else np.asarray(channels, dtype=int)
        data = self[start:stop, selected]
        return self._scaled(data, selected) if units.lower() == "uv" else _checked_raw(data, units)

    def get_window(self, start: float = 0.0, duration: float = 1.0, *, channels: Sequence[int] | None = None,
                   units: str = "uV") -> tuple[np.ndarray, np.ndarray]:
        """(times in s, data) of ``duration`` seconds from ``start`` seconds (in the stream's clock)."""
        first = max(0, round(start * self.sampling_rate))
        last = min(self.shape[0], first + round(duration * self.sampling_rate))
        data = self.get_samples(first, last, channels=channels, units=units)
        return np.arange(first, last) / self.sampling_rate, data

    def _scaled(self, data: np.ndarray, selected: Any) -> np.ndarray:
        if self.uv_per_bit is None:
            raise QueryError("This recording has no gain (uV per bit) to convert with.",
                             hint="Read it with units='raw'.")
        gains = np.ones(self.shape[1])
        gains[: self.uv_per_bit.size] = self.uv_per_bit[: self.shape[1]]
        return data.astype(np.float32) * gains[selected].astype(np.float32)


def _time_difference_decoder(spec: Any) -> Any:
    """How to decode rows ``first:last`` of some channels of one chunk of an array with ``spec``.

    The layout :mod:`compression` writes (column-major chunks of every channel, a time
    difference on the flat buffer) is decoded ourselves: Blosc, then the inverse of the
    difference, then only the wanted channels transposed; arrays written before the zigzag
    (``Delta``) are read the same way. Anything else goes through its codecs.
    """
    from numcodecs import Delta

    from labdata.converters.spikeglx.codecs import DeltaZigZag, undelta, unzigzag

    kinds = [type(f) for f in spec.filters]
    fast = (spec.order == "F" and np.dtype(spec.dtype) == np.dtype("<i2") and spec.chunks[1] == spec.shape[1]
            and spec.compressor is not None and kinds in ([DeltaZigZag], [Delta]))
    if not fast:
        return lambda array, index, selection, first, last: array.chunk((index, 0))[first:last, selection]
    differences = unzigzag if kinds == [DeltaZigZag] else (lambda raw: raw.view("<i2"))

    def decode(array: ZarrZipArray, index: int, selection: np.ndarray, first: int, last: int) -> np.ndarray:
        stored = array.stored((index, 0))
        if stored is None:
            return np.zeros((last - first, len(selection)), dtype="<i2")
        flat = np.frombuffer(spec.compressor.decode(stored), dtype="<u2")
        channels = undelta(differences(flat)).reshape(spec.chunks[1], spec.chunks[0])
        return _rows_of(channels, selection)[:, first:last].T  # written straight into the output

    return decode


def _rows_of(array: np.ndarray, selection: np.ndarray) -> np.ndarray:
    """``array[selection]``, as a view when the selection is a run of consecutive rows."""
    if len(selection) and selection[-1] - selection[0] == len(selection) - 1 and np.all(np.diff(selection) == 1):
        return array[selection[0]:selection[-1] + 1]
    return array[selection]


def _chunk_starts(start: int, stop: int, step: int) -> list[int]:
    if stop <= start:
        return []
    return [start, *range((start // step + 1) * step, stop, step)]


def _checked_raw(data: np.ndarray, units: str) -> np.ndarray:
    if units != "raw":
        raise QueryError(f"Unknown units {units!r}.", hint="Use units='raw' (int16) or units='uV'.")
    return data


def _rate_of(meta: dict[str, Any]) -> float:
    for key in ("imSampRate", "niSampRate", "obSampRate"):
        if key in meta:
            return float(meta[key])
    raise QueryError("The recording's meta has no sampling rate.", hint="Pass sampling_rate= explicitly.")
