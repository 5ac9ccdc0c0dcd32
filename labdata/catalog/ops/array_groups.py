"""Zarr groups that hold the large arrays of many rows, and the fast reads of their slices.

A group is written once, in one pass, for the rows of one insert that share a key (the units of
one sorting): per column, the rows' arrays are flattened and concatenated in row order into one
1-D Zarr array, and each row keeps its ``offset`` and ``count`` (an :class:`ArrayRef`).
Spike trains of one sorting thus share one group (``spike_times``, ``spike_amplitudes``,
``spike_positions``), sorted by unit, so the units of one query are read in few requests.

Layout (zarr v2, readable by plain zarr)::

    <group>/.zgroup
    <group>/.zattrs                  {"labdata_layout": 1, "rows": n, "columns": {...}}
    <group>/<column>/.zarray         1-D, chunks of CHUNK elements, blosc lz4 + byte shuffle
    <group>/<column>/0, 1, ...

Columns listed as *differenced* (spike times) hold, for each row, its first value and then the
differences of consecutive values; the difference restarts at every row, so one row decodes
alone (``np.cumsum`` of its slice). Measured on lab-like trains (50 units × 2,000 sorted spikes
over 1 h at 30 kHz) and on the real bombcell Kilosort output (94,565 spikes): uint64 times
compress 2.8–3.3× without the difference and 3.1–3.8× with it. Blosc decodes a row's slice
without the rest of its chunk (``decode_partial``, one 64 KiB block for a 2,000-spike unit):
lz4 with byte shuffle decodes it in ~10 µs, lz4 with bitshuffle in ~18 µs, zstd in 36–140 µs;
on the real times byte shuffle compresses as well as bitshuffle (3.73× against 3.76×; 3.06×
against 3.45× on the synthetic ones) and zstd ~10 % better (4.1×) at 2–10× the read time, so
lz4 + byte shuffle was chosen. Chunks can thus be large (4 M elements): a lab-like sorting is one
chunk per column, one request per column from S3.

The checksum registered for a group (:func:`group_checksum`) is the MD5 of, for every object in
key order, the key's UTF-8 bytes, a NUL byte and the object's bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numcodecs import Blosc

from labdata.catalog.ops.blosc_blocks import ChunkBuffer, read_blocks
from labdata.core.errors import WrongTypeError

__all__ = ["CHUNK", "ArrayRef", "GroupWrite", "encode_group", "group_checksum", "read_slices"]

CHUNK = 1 << 22
LAYOUT = 1
_CODEC = Blosc("lz4", clevel=1, shuffle=Blosc.SHUFFLE, blocksize=8192)


REF_TAG = b"ZREF\x00"  # what a longblob value holding an ArrayRef starts with


@dataclass(frozen=True)
class ArrayRef:
    """Where a row's large array lives: a slice of a flat Zarr array.

    Attributes
    ----------
    store : str
        Path of the Zarr array (``<group>/<column>``) in its storage.
    offset, count : int
        The slice ``[offset, offset + count)`` of the flat array.
    shape : tuple of int
        Shape to give the slice.
    dtype : str
        Numpy dtype string of the row's array.
    storage : str, optional
        Name of the storage holding the array (None: the lake folder).
    chunk : int, optional
        Chunk length of the array (None: an array written before groups, read through zarr).
    delta : bool
        The slice holds the row's first value and then differences (cumsum to decode).
    stored : str, optional
        dtype of the flat array when it differs from ``dtype``.
    """

    store: str
    offset: int
    count: int
    shape: tuple[int, ...]
    dtype: str
    storage: str | None = None
    chunk: int | None = None
    delta: bool = False
    stored: str | None = None

    def encode(self) -> bytes:
        """Return the bytes stored in a ``longblob`` column for this reference."""
        fields: dict[str, Any] = {"store": self.store, "offset": self.offset, "count": self.count,
                                  "shape": list(self.shape), "dtype": self.dtype}
        extra = {"storage": self.storage, "chunk": self.chunk, "delta": self.delta or None, "stored": self.stored}
        fields.update({k: v for k, v in extra.items() if v is not None})
        return REF_TAG + json.dumps(fields, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> ArrayRef:
        """Parse the bytes written by :meth:`encode`."""
        return cls.decode_many([data])[0]

    @classmethod
    def decode_many(cls, datas: list[bytes]) -> list[ArrayRef]:
        """Parse many references at once (one JSON parse for all of them)."""
        skip = len(REF_TAG)
        fields = json.loads(b"[" + b",".join(d[skip:] for d in datas) + b"]")
        return [cls(f["store"], int(f["offset"]), int(f["count"]), tuple(f["shape"]), f["dtype"], f.get("storage"),
                    f.get("chunk"), bool(f.get("delta", False)), f.get("stored")) for f in fields]

    @staticmethod
    def is_reference(data: bytes) -> bool:
        """Whether longblob bytes are a reference (rather than the value itself)."""
        return data.startswith(REF_TAG)


@dataclass(frozen=True)
class GroupWrite:
    """The encoded objects of one group, and each row's slices."""

    objects: dict[str, bytes]
    slices: dict[str, list[ArrayRef | None]]
    size: int
    md5: str


def encode_group(path: str, columns: Mapping[str, Sequence[Any]], *, storage: str | None = None,
                 differenced: Collection[str] = ()) -> GroupWrite:
    """Encode the arrays of many rows into the objects of one Zarr group.

    Parameters
    ----------
    path : str
        The group's path in its storage (keys of the returned objects are relative to it).
    columns : mapping of str to sequence
        Per column, one value per row: a numpy array or None (NULL).
    storage : str, optional
        The storage the group will be written to (None: the lake folder).
    differenced : collection of str
        Integer columns stored as per-row differences (spike times).
    """
    objects: dict[str, bytes] = {".zgroup": _json({"zarr_format": 2})}
    slices: dict[str, list[ArrayRef | None]] = {}
    described: dict[str, Any] = {}
    for name, values in columns.items():
        flat, refs = _column(f"{path}/{name}", name, values, storage, name in differenced)
        objects.update({f"{name}/{key}": data for key, data in _array_objects(flat).items()})
        slices[name] = refs
        described[name] = {"dtype": flat.dtype.str, "differenced": name in differenced}
    rows = len(next(iter(columns.values()), ()))
    objects[".zattrs"] = _json({"labdata_layout": LAYOUT, "rows": rows, "columns": described,
                                "note": "row slices are [offset, offset+count) of each column, kept in the "
                                        "catalog rows; differenced columns: cumsum each row's slice"})
    return GroupWrite(objects, slices, sum(len(b) for b in objects.values()), group_checksum(objects))


def group_checksum(objects: Mapping[str, bytes]) -> str:
    """MD5 over the objects of a group in key order (key, NUL, bytes for each)."""
    digest = hashlib.md5()
    for key in sorted(objects):
        digest.update(key.encode() + b"\0")
        digest.update(objects[key])
    return digest.hexdigest()


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=1, sort_keys=True).encode()


def _column(store: str, name: str, values: Sequence[Any], storage: str | None,
            differenced: bool) -> tuple[np.ndarray, list[ArrayRef | None]]:
    arrays = [None if v is None else _array(v, name) for v in values]
    present = [a for a in arrays if a is not None]
    dtype = np.result_type(*present) if present else np.dtype("float64")
    if differenced and dtype.kind not in "iu":
        raise WrongTypeError(f"{name!r} holds {dtype} values; it is stored as differences of integers.",
                             hint=f"Give {name} as integer arrays (e.g. spike times in samples, uint64).")
    sizes = np.array([0 if a is None else a.size for a in arrays], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    flat = np.concatenate([a.ravel() for a in present]).astype(dtype, copy=False) if present else np.empty(0, dtype)
    if differenced and flat.size:
        flat = _per_row_differences(flat, offsets[sizes > 0])
    stored = None if all(a is None or a.dtype == dtype for a in arrays) else dtype.str
    refs = [None if a is None else ArrayRef(store, int(o), int(a.size), tuple(a.shape), a.dtype.str, storage,
                                            CHUNK, differenced, stored if a.dtype != dtype else None)
            for a, o in zip(arrays, offsets, strict=True)]
    return flat, refs


def _array(value: Any, name: str) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype == object or array.dtype.kind not in "biufc":
        raise WrongTypeError(f"{name!r} must hold numeric arrays, got {array.dtype}.",
                             hint="Give numpy arrays of numbers (e.g. uint64 spike times, float32 amplitudes).")
    return array


def _per_row_differences(flat: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Each value minus the previous one, except at row starts (kept whole); integers wrap, cumsum undoes it."""
    out = flat.copy()
    out[1:] -= flat[:-1]
    out[starts] = flat[starts]
    return out


def _array_objects(flat: np.ndarray) -> dict[str, bytes]:
    meta = {"zarr_format": 2, "shape": [int(flat.size)], "chunks": [CHUNK], "dtype": flat.dtype.str,
            "compressor": _CODEC.get_config(), "fill_value": 0, "filters": None, "order": "C"}
    objects = {".zarray": _json(meta)}
    for index, start in enumerate(range(0, flat.size, CHUNK)):
        objects[str(index)] = bytes(_CODEC.encode(np.ascontiguousarray(flat[start:start + CHUNK])))
    return objects


# --------------------------------------------------------------------------------------- reading
Opener = Callable[[str | None], tuple[Any, str]]


def read_slices(refs: Sequence[ArrayRef], open_storage: Opener) -> list[np.ndarray]:
    """Read many row slices, reading and decoding from each chunk only the blosc blocks the rows need.

    For each chunk touched, at most two reads: its header (with the blocks' offsets), then one range
    that covers the needed blocks of every requested row in it (see :mod:`.blosc_blocks`). Local
    chunks are read with ``pread``; chunks in a storage with concurrent range requests, so a
    lab-like sorting costs one request per column however many of its units a query asks for.

    Parameters
    ----------
    refs : sequence of ArrayRef
    open_storage : callable
        ``open_storage(storage)`` → ``(fsspec filesystem or None, root)``; None for a local folder.
    """
    needs: dict[tuple[str | None, str], list[tuple[int, int, int, int]]] = {}  # chunk -> (row, piece, start, take)
    pieces = [_pieces(ref) for ref in refs]
    for row, (ref, parts) in enumerate(zip(refs, pieces, strict=True)):
        for number, (chunk_key, start, take) in enumerate(parts):
            needs.setdefault((ref.storage, chunk_key), []).append((row, number, start, take))
    decoded: list[list[Any]] = [[None] * len(parts) for parts in pieces]
    for storage in {key[0] for key in needs}:
        fs, root = open_storage(storage)
        keys = [key for key in needs if key[0] == storage]
        sizes = [[_itemsize(refs[row]) for row, *_ in needs[key]] for key in keys]
        wanted = [[(start * size, (start + take) * size) for (_, _, start, take), size in zip(needs[key], its,
                                                                                               strict=True)]
                  for key, its in zip(keys, sizes, strict=True)]
        chunks = read_blocks(_CODEC, fs, [f"{root}/{key[1]}" for key in keys], wanted)
        for key, chunk in zip(keys, chunks, strict=True):  # one local chunk in memory at a time
            _decode_chunk(chunk, needs[key], refs, decoded)
    return [_assemble(ref, parts) for ref, parts in zip(refs, decoded, strict=True)]


def _decode_chunk(chunk: ChunkBuffer, needs: list[tuple[int, int, int, int]], refs: Sequence[ArrayRef],
                  decoded: list[list[Any]]) -> None:
    """Decode a chunk's pieces: in one call when they fill most of their span (a sorting's units read
    together), else each alone (a few units spread over a large chunk)."""
    dtype = np.dtype(refs[needs[0][0]].stored or refs[needs[0][0]].dtype)
    low, high = min(n[2] for n in needs), max(n[2] + n[3] for n in needs)
    if len(needs) > 1 and high - low <= 2 * sum(n[3] for n in needs):
        span = chunk.items(low, high - low, dtype)
        for row, number, start, take in needs:
            decoded[row][number] = span[start - low:start - low + take]
        return
    for row, number, start, take in needs:
        decoded[row][number] = chunk.items(start, take, dtype)


def _itemsize(ref: ArrayRef) -> int:
    return np.dtype(ref.stored or ref.dtype).itemsize


def _pieces(ref: ArrayRef) -> list[tuple[str, int, int]]:
    """``(chunk key, first item, item count)`` of each chunk a row's slice lies in."""
    if ref.count == 0 or ref.chunk is None:
        return []
    pieces, position, end = [], ref.offset, ref.offset + ref.count
    while position < end:
        index, start = divmod(position, ref.chunk)
        take = min(end - position, ref.chunk - start)
        pieces.append((f"{ref.store}/{index}", start, take))
        position += take
    return pieces


def _assemble(ref: ArrayRef, parts: list[np.ndarray]) -> np.ndarray:
    """A row's array from its decoded pieces (differences summed, row dtype and shape restored)."""
    stored = np.dtype(ref.stored or ref.dtype)
    flat = parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else np.empty(0, stored)
    if ref.delta:
        flat = np.cumsum(flat, dtype=stored)
    return flat.astype(np.dtype(ref.dtype), copy=not flat.flags.writeable).reshape(ref.shape)
