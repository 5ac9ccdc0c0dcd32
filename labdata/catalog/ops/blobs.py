"""Blob attributes: serialising Python values into rows and arrays into Zarr.

``blob`` columns hold the value in the row as bytes:

* a numpy array (not of object dtype) as ``.npy`` bytes (dtype, shape and order kept);
* any other JSON value (dict, list, number, string, bool, None) as ``JSON\\0`` + UTF-8 JSON.

``longblob`` columns are ``BLOB`` too and hold either

* the value itself, encoded as for ``blob``, when it is smaller than
  :data:`INLINE_LIMIT` bytes or not an array; or
* ``ZREF\0`` + a JSON reference ``{store, offset, count, shape, dtype}``:
* larger arrays of one insert are flattened and concatenated, per column, into
  one 1-D Zarr array (zstd + bitshuffle) at ``store`` (a path relative to the
  lake root, ``catalog/arrays/<schema>/<table>/<column>-<uuid>.zarr``); each
  row keeps its ``offset`` and ``count`` in that array and its ``shape`` and
  ``dtype``, so the rows of one query are read with few requests.

In SQL, ``blob_kind(col)``-style inspection is simple: a reference starts with
``ZREF``, an array with the ``.npy`` magic, anything else with ``JSON``.

An :class:`ArrayRef` given as a value is stored as is: writers that lay out
their own Zarr groups (spike trains sorted by unit) insert references directly.
"""

from __future__ import annotations

import functools
import io
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from labdata.core.errors import WrongTypeError

__all__ = ["INLINE_LIMIT", "ArrayRef", "ArrayReader", "decode_blob", "encode_blob", "write_long_blobs"]

INLINE_LIMIT = 32 * 1024
_JSON_TAG = b"JSON\x00"
_NPY_MAGIC = b"\x93NUMPY"
_REF_TAG = b"ZREF\x00"


@dataclass(frozen=True)
class ArrayRef:
    """Where a large array lives: a slice of a flat Zarr array.

    Attributes
    ----------
    store : str
        Path of the Zarr array relative to the lake root.
    offset, count : int
        The slice ``[offset, offset + count)`` of the flat array.
    shape : tuple of int
        Shape to give the slice.
    dtype : str
        Numpy dtype string.
    """

    store: str
    offset: int
    count: int
    shape: tuple[int, ...]
    dtype: str

    def encode(self) -> bytes:
        """Return the bytes stored in a ``longblob`` column for this reference."""
        fields = {"store": self.store, "offset": self.offset, "count": self.count,
                  "shape": list(self.shape), "dtype": self.dtype}
        return _REF_TAG + json.dumps(fields).encode()

    @classmethod
    def decode(cls, data: bytes) -> ArrayRef:
        """Parse the bytes written by :meth:`encode`."""
        fields = json.loads(data[len(_REF_TAG):])
        return cls(fields["store"], int(fields["offset"]), int(fields["count"]),
                   tuple(fields["shape"]), fields["dtype"])


def encode_blob(value: Any, attribute: str = "blob") -> bytes:
    """Serialise a value for a blob column.

    Raises
    ------
    WrongTypeError
        For objects that are neither arrays nor JSON values.
    """
    if isinstance(value, np.ndarray) and value.dtype != object:
        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)
        return buffer.getvalue()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    try:
        return _JSON_TAG + json.dumps(value, default=_json_default, allow_nan=True).encode()
    except TypeError as error:
        raise WrongTypeError(
            f"Attribute {attribute!r} cannot hold a {type(value).__name__}: {error}.",
            hint="Blob attributes hold numpy arrays (not of object dtype), or dicts, lists, "
            "numbers and strings.",
        ) from None


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not serialisable")


def decode_blob(data: bytes | None) -> Any:
    """Deserialise the bytes of a blob column."""
    if data is None:
        return None
    data = bytes(data)
    if data.startswith(_NPY_MAGIC):
        return _npy_array(data)
    if data.startswith(_JSON_TAG):
        return json.loads(data[len(_JSON_TAG):])  # a list stays a list, as in DataJoint 0.14
    return data


def _npy_array(data: bytes) -> np.ndarray:
    """Decode ``.npy`` bytes; the header is parsed once per distinct header (blobs of a column share it)."""
    size_bytes = 2 if data[6] == 1 else 4
    end = 8 + size_bytes + int.from_bytes(data[8:8 + size_bytes], "little")
    header = _npy_header(data[:end])
    if header is None:
        return np.load(io.BytesIO(data), allow_pickle=False)
    dtype, shape, fortran = header
    array = np.frombuffer(bytearray(data[end:]), dtype=dtype)  # writable, as from np.load
    return array.reshape(shape, order="F" if fortran else "C")


@functools.lru_cache(maxsize=256)
def _npy_header(prefix: bytes) -> tuple[np.dtype, tuple[int, ...], bool] | None:
    """dtype, shape and order of an ``.npy`` header; None for a layout np.load must handle."""
    stream = io.BytesIO(prefix)
    version = np.lib.format.read_magic(stream)
    if version not in ((1, 0), (2, 0)):
        return None
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read(stream)
    return None if dtype.hasobject else (dtype, shape, fortran)


def write_long_blobs(values: list[Any], *, root: Path, location: str, attribute: str) -> list[Any]:
    """Encode the values of one ``longblob`` column, writing large arrays to Zarr.

    Parameters
    ----------
    values : list
        The column's values (None for NULL).
    root : Path
        The lake root.
    location : str
        ``<schema>/<table>`` of the column, for the store path.
    attribute : str
        Column name.
    """
    rows: list[Any] = [None] * len(values)
    large: list[tuple[int, np.ndarray]] = []
    for index, value in enumerate(values):
        if value is None:
            continue
        if isinstance(value, ArrayRef):
            rows[index] = value.encode()
        elif isinstance(value, np.ndarray) and value.dtype != object and value.nbytes > INLINE_LIMIT:
            large.append((index, value))
        else:
            rows[index] = encode_blob(value, attribute)
    for dtype in {array.dtype.str for _, array in large}:
        group = [(i, a) for i, a in large if a.dtype.str == dtype]
        for index, ref in zip([i for i, _ in group], _write_flat(group, root, location, attribute),
                              strict=True):
            rows[index] = ref.encode()
    return rows


def _write_flat(group: list[tuple[int, np.ndarray]], root: Path, location: str,
                attribute: str) -> list[ArrayRef]:
    import zarr
    from numcodecs import Blosc

    flat = np.concatenate([np.ravel(array) for _, array in group])
    store = f"catalog/arrays/{location}/{attribute}-{uuid.uuid4().hex}.zarr"
    zarr.open_array(str(Path(root) / store), mode="w", shape=flat.shape, dtype=flat.dtype,
                    chunks=(max(1, min(flat.size, 4_000_000)),),
                    compressor=Blosc("zstd", clevel=1, shuffle=Blosc.BITSHUFFLE))[:] = flat
    refs, offset = [], 0
    for _, array in group:
        refs.append(ArrayRef(store, offset, int(array.size), tuple(array.shape), array.dtype.str))
        offset += array.size
    return refs


class ArrayReader:
    """Resolves ``longblob`` values to numpy arrays, opening each Zarr store once."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._arrays: dict[str, Any] = {}

    def read(self, value: bytes | None) -> Any:
        """Return the array (or object) a ``longblob`` value stands for."""
        if value is None:
            return None
        value = bytes(value)
        if not value.startswith(_REF_TAG):
            return decode_blob(value)
        ref = ArrayRef.decode(value)
        flat = self._open(ref.store)[ref.offset:ref.offset + ref.count]
        return flat.reshape(ref.shape).astype(np.dtype(ref.dtype), copy=False)

    def _open(self, store: str) -> Any:
        if store not in self._arrays:
            import zarr

            self._arrays[store] = zarr.open_array(str(self.root / store), mode="r")
        return self._arrays[store]
