"""One Zarr v2 array in one zip file (``.zarr.zip``): written and read without the zarr package.

A ``.zarr.zip`` is what ``zarr.storage.ZipStore`` reads: members ``.zarray`` and
``.zattrs`` (JSON; stored deflated here, they are small) and one member per chunk named
by its index (``"3.0"``), stored as encoded (no second compression). Writing it directly
keeps a small recording's fixed cost to a fraction of a millisecond (zarr's own writer
costs tens), makes the bytes deterministic (member times are fixed, so the same input
always gives the same file and MD5), and lets the reader fetch chunks with ``os.pread``
from several threads at once.

Examples
--------
>>> spec = ArraySpec((100, 4), (50, 4), "<i2")                            # doctest: +SKIP
>>> with ZarrZipWriter("x.zarr.zip", spec, {"unit": "bit"}) as writer:    # doctest: +SKIP
...     writer.write((0, 0), block)
>>> ZarrZipArray("x.zarr.zip").chunk((0, 0))                             # doctest: +SKIP
"""

from __future__ import annotations

import functools
import io
import json
import math
import os
import struct
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labdata.core.errors import RecordingFormatError

__all__ = ["ArraySpec", "ZarrZipArray", "ZarrZipWriter", "local_path"]

#: member times of every file we write (zip's epoch): the same content gives the same bytes
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_LOCAL_SIGNATURE = b"PK\x03\x04"


@dataclass(frozen=True)
class ArraySpec:
    """Shape, chunking, dtype, memory order and codecs of a Zarr v2 array."""

    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    dtype: str
    order: str = "C"
    filters: list[Any] = field(default_factory=list)
    compressor: Any = None
    fill_value: Any = 0

    def grid(self) -> tuple[int, ...]:
        """Chunks along each dimension."""
        return tuple(math.ceil(s / c) if s else 0 for s, c in zip(self.shape, self.chunks, strict=True))

    @staticmethod
    def key(index: tuple[int, ...]) -> str:
        return ".".join(str(i) for i in index)

    def to_json(self) -> bytes:
        return json.dumps({
            "zarr_format": 2, "shape": list(self.shape), "chunks": list(self.chunks),
            "dtype": np.dtype(self.dtype).str, "order": self.order, "fill_value": self.fill_value,
            "filters": [f.get_config() for f in self.filters] or None,
            "compressor": self.compressor.get_config() if self.compressor is not None else None,
            "dimension_separator": "."}, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, text: bytes) -> ArraySpec:
        from numcodecs import get_codec

        meta = json.loads(text)
        if meta.get("zarr_format") != 2 or meta.get("dimension_separator", ".") != ".":
            raise RecordingFormatError("This .zarr.zip does not hold a Zarr v2 array with '.'-separated chunk keys.",
                                       hint="Open it with the zarr package instead.")
        return cls(tuple(meta["shape"]), tuple(meta["chunks"]), meta["dtype"], meta["order"],
                   [get_codec(f) for f in meta.get("filters") or []],
                   get_codec(meta["compressor"]) if meta.get("compressor") else None, meta.get("fill_value"))

    def encode(self, block: np.ndarray) -> bytes:
        """The stored bytes of one chunk (``block`` has the chunk's full shape)."""
        data: Any = np.asarray(block, dtype=self.dtype).ravel(order=self.order)
        for codec in self.filters:
            data = codec.encode(data)
        return bytes(self.compressor.encode(data)) if self.compressor is not None else np.asarray(data).tobytes()

    def decode(self, stored: bytes) -> np.ndarray:
        """One chunk, of the chunk's full shape."""
        data: Any = self.compressor.decode(stored) if self.compressor is not None else stored
        for codec in reversed(self.filters):
            data = codec.decode(data)
        return np.frombuffer(data, dtype=self.dtype).reshape(self.chunks, order=self.order)


class ZarrZipWriter:
    """Write a ``.zarr.zip`` chunk by chunk; ``close`` (or the ``with`` block) finishes the zip."""

    def __init__(self, path: str | Path, spec: ArraySpec, attrs: dict[str, Any] | None = None) -> None:
        self.spec = spec
        self._zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True)
        self._member(".zarray", spec.to_json(), zipfile.ZIP_DEFLATED)
        self._member(".zattrs", json.dumps(attrs or {}, separators=(",", ":")).encode(), zipfile.ZIP_DEFLATED)

    def write(self, index: tuple[int, ...], block: np.ndarray) -> int:
        """Encode and store the chunk at ``index``; return its stored size."""
        return self.write_encoded(index, self.spec.encode(block))

    def write_encoded(self, index: tuple[int, ...], stored: bytes) -> int:
        self._member(self.spec.key(index), stored, zipfile.ZIP_STORED)
        return len(stored)

    def _member(self, name: str, data: bytes, compression: int) -> None:
        info = zipfile.ZipInfo(name, FIXED_TIME)
        info.compress_type = compression
        info.external_attr = 0o644 << 16
        self._zip.writestr(info, data, compresslevel=1)  # the JSON members: fast, and small enough

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> ZarrZipWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class ZarrZipArray:
    """A ``.zarr.zip`` opened read-only: its spec, attributes and chunks, read on demand.

    Parameters
    ----------
    source : path or binary file
        A local file (chunks are read with ``os.pread``, from any number of threads) or an
        open seekable binary file such as s3fs's (reads take turns on a lock).
    """

    def __init__(self, source: str | Path | Any) -> None:
        self._path = str(source) if isinstance(source, str | Path) else None
        self._file = open(self._path, "rb") if self._path else source  # noqa: SIM115 - closed by close()
        self._lock = threading.Lock()  # the zip's reads (and a file object's) seek a shared position
        try:
            self._archive = zipfile.ZipFile(self._file)
            self._members = {i.filename: i for i in self._archive.infolist()}
            self.spec = ArraySpec.from_json(self._archive.read(".zarray"))
        except (zipfile.BadZipFile, KeyError, ValueError) as error:
            self.close()
            raise RecordingFormatError(f"{source} is not a readable .zarr.zip ({error}).",
                                       hint="Fetch the file again; its checksum is in the File table.") from error

    @functools.cached_property
    def attrs(self) -> dict[str, Any]:
        """The array's attributes (``.zattrs``), read on first use."""
        if ".zattrs" not in self._members:
            return {}
        with self._lock:
            return json.loads(self._archive.read(".zattrs"))

    shape = property(lambda self: self.spec.shape)
    chunks = property(lambda self: self.spec.chunks)
    dtype = property(lambda self: np.dtype(self.spec.dtype))

    def stored(self, index: tuple[int, ...]) -> bytes | None:
        """The stored bytes of chunk ``index``, or None when it was never written (all fill value)."""
        info = self._members.get(self.spec.key(index))
        if info is None:
            return None
        if info.compress_type != zipfile.ZIP_STORED:
            with self._lock:
                return self._archive.read(info)
        header = self._read(info.header_offset, _LOCAL_HEADER.size + len(info.filename) + 64 + info.compress_size)
        fields = _LOCAL_HEADER.unpack_from(header)
        if fields[0] != _LOCAL_SIGNATURE:
            raise RecordingFormatError(f"Chunk {info.filename} of this .zarr.zip has a damaged header.",
                                       hint="Fetch the file again; its checksum is in the File table.")
        start = _LOCAL_HEADER.size + fields[-2] + fields[-1]
        data = header[start:start + info.compress_size]
        if len(data) < info.compress_size:
            data += self._read(info.header_offset + start + len(data), info.compress_size - len(data))
        return data

    def chunk(self, index: tuple[int, ...]) -> np.ndarray:
        """Chunk ``index`` decoded, of the chunk's full shape."""
        stored = self.stored(index)
        if stored is None:
            return np.full(self.chunks, self.spec.fill_value or 0, dtype=self.dtype, order=self.spec.order)
        return self.spec.decode(stored)

    def _read(self, offset: int, size: int) -> bytes:
        if self._path is not None:
            return os.pread(self._file.fileno(), size, offset)
        with self._lock:
            self._file.seek(offset)
            return self._file.read(size)

    @property
    def source(self) -> str | Any:
        """What the array was opened from: the local path, or the binary file object."""
        return self._path if self._path is not None else self._file

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as what it was opened from: reopened by path, or from the unpickled file object.

        A local file object is reopened by its path; a file object of a filesystem such as
        s3fs pickles as its filesystem and path (fsspec reopens it), which includes the
        filesystem's credentials.
        """
        return type(self), (local_path(self.source) or self.source,)

    def close(self) -> None:
        if getattr(self, "_archive", None) is not None:
            self._archive.close()  # leaves a file object it was given open
        if self._path is not None:
            self._file.close()

    def __enter__(self) -> ZarrZipArray:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def local_path(source: str | Path | Any) -> str | None:
    """The path of a local file given as a path or as an ``open(path, "rb")`` object (which cannot be pickled).

    None for other file objects (s3fs's, fsspec's), which pickle as their filesystem and path.
    """
    if isinstance(source, str | Path):
        return str(source)
    name = getattr(source, "name", None) if isinstance(source, io.BufferedReader) else None
    return name if isinstance(name, str) and os.path.isfile(name) else None
