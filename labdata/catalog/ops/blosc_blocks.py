"""Reading part of a blosc-compressed chunk: only the blocks that hold the bytes asked for.

A blosc (v1) buffer is a 16-byte header (version, flags, type size, decoded size, block size,
compressed size), a table of the offsets of its blocks, then the compressed blocks, each
decodable alone (blosc's threads may store them out of order). To read a few rows of a large
chunk (a unit's spikes in a sorting's chunk), this module reads the header and table, then one
byte range covering the needed blocks, and decodes each run of consecutive needed blocks as a
small blosc buffer of its own (same header, rebased table). Locally that is two ``pread`` per
chunk; from object storage one request per chunk of up to 1 MiB compressed (its first MiB is read
whole), else two, in concurrent rounds of range requests (``cat_ranges``).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["DecodedRun", "read_blocks"]

_HEADER = 16
_HEAD_READ = 4096  # the header and the offsets of up to 1,020 blocks, in one read
#: from object storage the first request reads this much: a chunk this small (a lab-like sorting's column,
#: ~200 kB) comes whole in one request, a larger one needs a second for its blocks
_REMOTE_FIRST_READ = 1 << 20
_MEMCPYED = 0x02   # header flag: the bytes are stored uncompressed after the header


@dataclass(frozen=True)
class DecodedRun:
    """Decoded bytes of consecutive blocks of a chunk; ``data`` starts at byte ``start`` of the chunk."""

    start: int
    data: bytes


def read_blocks(codec: Any, fs: Any, paths: Sequence[str],
                wanted: Sequence[Sequence[tuple[int, int]]]) -> list[list[DecodedRun]]:
    """Decode, from each chunk at ``paths``, the blocks holding its ``wanted`` decoded byte ranges.

    Parameters
    ----------
    codec : numcodecs.Blosc
        Decodes a blosc buffer.
    fs : fsspec filesystem or None
        None: ``paths`` are local files.
    paths : sequence of str
    wanted : sequence of list of (int, int)
        Per chunk, ``[lo, hi)`` byte ranges of its decoded contents.
    """
    first_read = _HEAD_READ if fs is None else _REMOTE_FIRST_READ
    heads = _ranges(fs, paths, [0] * len(paths), [first_read] * len(paths))
    plans = [_Plan.of(head, ranges) for head, ranges in zip(heads, wanted, strict=True)]
    short = [i for i, plan in enumerate(plans) if plan.table is None]
    if short:  # more blocks than the first read's table covers
        longer = _ranges(fs, [paths[i] for i in short], [0] * len(short), [plans[i].hi for i in short])
        for i, head in zip(short, longer, strict=True):
            heads[i], plans[i] = head, _Plan.of(head, wanted[i])
    bodies: list[bytes | None] = [head[p.lo:p.hi] if p.hi <= len(head) else None
                                  for head, p in zip(heads, plans, strict=True)]
    missing = [i for i, body in enumerate(bodies) if body is None]
    for i, body in zip(missing, _ranges(fs, [paths[i] for i in missing], [plans[i].lo for i in missing],
                                        [plans[i].hi for i in missing]), strict=True):
        bodies[i] = body
    return [plan.decode(codec, body or b"") for plan, body in zip(plans, bodies, strict=True)]


def _ranges(fs: Any, paths: Sequence[str], starts: list[int], ends: list[int]) -> list[bytes]:
    """Bytes ``[start, end)`` of each file (fewer at its end): ``pread`` locally, else concurrent requests."""
    if fs is None:
        out = []
        for path, start, end in zip(paths, starts, ends, strict=True):
            descriptor = os.open(path, os.O_RDONLY)
            try:
                out.append(os.pread(descriptor, end - start, start))
            finally:
                os.close(descriptor)
        return out
    return list(fs.cat_ranges(list(paths), starts, ends, on_error="raise"))


@dataclass(frozen=True)
class _Plan:
    """The blocks of one chunk to decode, and the compressed byte range ``[lo, hi)`` that holds them."""

    header: bytes
    table: np.ndarray | None      # block offsets (None: the first read was too short; hi = table end)
    extents: dict[int, tuple[int, int]]
    lo: int
    hi: int

    @classmethod
    def of(cls, head: bytes, wanted: Sequence[tuple[int, int]]) -> _Plan:
        nbytes, blocksize, cbytes = struct.unpack("<iii", head[4:_HEADER])
        if head[2] & _MEMCPYED:
            lo, hi = min(w[0] for w in wanted), max(w[1] for w in wanted)
            return cls(head[:_HEADER], np.empty(0, np.int32), {}, _HEADER + lo, _HEADER + hi)
        count = -(-nbytes // blocksize)
        if len(head) < _HEADER + 4 * count:
            return cls(head[:_HEADER], None, {}, 0, _HEADER + 4 * count)
        table = np.frombuffer(head, "<i4", count=count, offset=_HEADER)
        ends = np.append(np.sort(table), cbytes)  # a block ends where the next stored one starts
        needed = _needed_blocks(wanted, blocksize, count, nbytes)
        extents = {b: (int(table[b]), int(ends[np.searchsorted(ends, table[b], side="right")])) for b in needed}
        return cls(head[:_HEADER], table, extents, min(e[0] for e in extents.values()),
                   max(e[1] for e in extents.values()))

    def decode(self, codec: Any, body: bytes) -> list[DecodedRun]:
        """Decode each run of consecutive needed blocks from ``body`` (the bytes ``[lo, hi)``)."""
        if self.header[2] & _MEMCPYED:
            return [DecodedRun(self.lo - _HEADER, body)]
        nbytes, blocksize, _ = struct.unpack("<iii", self.header[4:_HEADER])
        runs = []
        for run in _consecutive(sorted(self.extents)):
            pieces = [body[self.extents[b][0] - self.lo:self.extents[b][1] - self.lo] for b in run]
            starts = np.cumsum([0] + [len(p) for p in pieces[:-1]]) + _HEADER + 4 * len(run)
            size = min(nbytes, (run[-1] + 1) * blocksize) - run[0] * blocksize
            total = int(starts[-1]) + len(pieces[-1])
            buffer = (self.header[:4] + struct.pack("<iii", size, blocksize, total)
                      + starts.astype("<i4").tobytes() + b"".join(pieces))
            runs.append(DecodedRun(run[0] * blocksize, bytes(codec.decode(buffer))))
        return runs


def _needed_blocks(wanted: Sequence[tuple[int, int]], blocksize: int, count: int, nbytes: int) -> set[int]:
    needed: set[int] = set()
    for lo, hi in wanted:
        first, last = lo // blocksize, (hi - 1) // blocksize
        if first == last == count - 1 and first > 0 and nbytes % blocksize:
            first -= 1  # a short last block stays last only with a full one before it (blosc stored it unsplit)
        needed.update(range(first, last + 1))
    return needed


def _consecutive(blocks: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for block in blocks:
        if runs and block == runs[-1][-1] + 1:
            runs[-1].append(block)
        else:
            runs.append([block])
    return runs
