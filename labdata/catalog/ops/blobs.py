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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from labdata.catalog.ops.array_groups import ArrayRef, encode_group, read_slices
from labdata.core.errors import StorageError, WrongTypeError
from labdata.core.storage import StorageSettings

__all__ = ["INLINE_LIMIT", "ArrayRef", "ArrayReader", "decode_blob", "encode_blob", "write_long_blobs"]

INLINE_LIMIT = 32 * 1024
_JSON_TAG = b"JSON\x00"
_NPY_MAGIC = b"\x93NUMPY"


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
    if large:
        store = f"catalog/arrays/{location}/{attribute}-{uuid.uuid4().hex}.zarr"
        written = encode_group(store, {attribute: [array for _, array in large]})
        write_objects(None, str(root), store, written.objects)
        for (index, _), ref in zip(large, written.slices[attribute], strict=True):
            rows[index] = ref.encode() if ref is not None else None
    return rows


def write_objects(fs: Any, root: str, path: str, objects: dict[str, bytes]) -> None:
    """Write the objects of a group under ``root/path``: files of a local folder (``fs`` None) or
    objects of an fsspec filesystem (sent concurrently)."""
    if fs is None:
        for folder in sorted({Path(root, path, key).parent for key in objects}):
            folder.mkdir(parents=True, exist_ok=True)
        for key, data in objects.items():
            Path(root, path, key).write_bytes(data)
    else:
        fs.pipe({f"{root}/{path}/{key}": data for key, data in objects.items()})


class ArrayReader:
    """Resolves ``longblob`` values to numpy arrays, reading the slices of many rows together.

    Parameters
    ----------
    root : Path
        The lake folder (arrays of references without a storage).
    open_storage : callable, optional
        ``open_storage(name)`` → ``(fsspec filesystem, root)`` of a named storage.
    """

    def __init__(self, root: Path, open_storage: Callable[[str], tuple[Any, str]] | None = None) -> None:
        self.root = Path(root)
        self._open_storage = open_storage
        self._storages: dict[str | None, tuple[Any, str]] = {None: (None, str(self.root))}
        self._arrays: dict[str, Any] = {}

    @classmethod
    def of(cls, context: Any) -> ArrayReader:
        """The reader of a :class:`~labdata.catalog.engine.context.Context`: its lake folder and the
        storages its preferences configure."""
        return cls(context.lake.root, lambda name: StorageSettings.from_prefs(context.prefs(), name).target())

    def read(self, value: bytes | None) -> Any:
        """Return the array (or object) a ``longblob`` value stands for."""
        return self.read_all([value])[0]

    def read_all(self, values: list[Any]) -> list[Any]:
        """Decode a column of ``longblob`` values; references are read together, each chunk once."""
        out: list[Any] = [None] * len(values)
        references: list[tuple[int, bytes]] = []
        for index, value in enumerate(values):
            if value is None:
                continue
            data = bytes(value)
            if not ArrayRef.is_reference(data):
                out[index] = decode_blob(data)
            else:
                references.append((index, data))
        refs = list(zip([i for i, _ in references], ArrayRef.decode_many([d for _, d in references]), strict=True))
        grouped = [(i, r) for i, r in refs if r.chunk is not None]
        for (index, _), array in zip(grouped, read_slices([r for _, r in grouped], self._storage), strict=True):
            out[index] = array
        for index, ref in refs:
            if ref.chunk is None:
                out[index] = self._read_zarr(ref)
        return out

    def _storage(self, name: str | None) -> tuple[Any, str]:
        if name not in self._storages:
            if self._open_storage is None or name is None:
                raise StorageError(f"An array lives in storage {name!r}, which this lake was opened without.",
                                   hint="Open the lake with preferences that configure that storage.")
            self._storages[name] = self._open_storage(name)
        return self._storages[name]

    def _read_zarr(self, ref: ArrayRef) -> np.ndarray:
        """An array written before groups had chunk sizes in their references."""
        if ref.store not in self._arrays:
            import zarr

            self._arrays[ref.store] = zarr.open_array(str(self.root / ref.store), mode="r")
        flat = self._arrays[ref.store][ref.offset:ref.offset + ref.count]
        return flat.reshape(ref.shape).astype(np.dtype(ref.dtype), copy=False)
