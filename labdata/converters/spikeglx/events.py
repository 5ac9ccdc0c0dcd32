"""Digital events of SpikeGLX streams: the transitions of every bit of a digital word.

A digital word (the NI-DAQ's XD column, the imec sync column ``SY``) packs up to 16 lines
into one int16 sample. For each line that changes, the events are the samples where it
goes 0 -> 1 (value 1) and 1 -> 0 (value 0), in time order. The word is scanned block by
block (:class:`EdgeCollector`), so a long file is read once, e.g. while it is compressed.

Timestamps are returned in samples; the NI-DAQ's are stored in seconds (samples /
``niSampRate``), the imec sync in samples, as the original did: spike times are samples,
and StreamSync maps samples straight onto the NI-DAQ clock.

Examples
--------
>>> collector = EdgeCollector()
>>> collector.add(np.array([0, 1, 1, 3, 0], dtype=np.int16))
>>> {line: (e.samples.tolist(), e.values.tolist()) for line, e in collector.edges().items()}
{0: ([1, 4], [1, 0]), 1: ([3, 4], [1, 0])}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["EdgeCollector", "LineEdges", "digital_edges"]

BITS = 16
BLOCK_SAMPLES = 1 << 20


@dataclass(frozen=True)
class LineEdges:
    """The transitions of one digital line: sample indices (uint64) and values (uint8, 1 onset, 0 offset)."""

    samples: np.ndarray
    values: np.ndarray


class EdgeCollector:
    """Collects the transitions of every line of a digital word fed in consecutive blocks."""

    def __init__(self) -> None:
        self._previous: int | None = None
        self._offset = 0
        self._parts: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}

    def add(self, word: np.ndarray) -> None:
        """Feed the next samples of the word (1-D, any integer dtype; the low 16 bits are used)."""
        word = np.asarray(word).astype(np.uint16, copy=False)
        if word.size == 0:
            return
        first = word[0] if self._previous is None else self._previous
        extended = np.concatenate(([first], word))
        changed = np.flatnonzero(extended[1:] != extended[:-1])
        if changed.size:
            self._add_changes(extended, changed)
        self._previous = int(word[-1])
        self._offset += word.size

    def _add_changes(self, extended: np.ndarray, changed: np.ndarray) -> None:
        before, after = extended[changed], extended[changed + 1]
        flipped = before ^ after
        for line in range(BITS):
            mask = (flipped >> line) & 1 == 1
            if mask.any():
                samples = (changed[mask] + self._offset).astype(np.uint64)
                values = ((after[mask] >> line) & 1).astype(np.uint8)
                self._parts.setdefault(line, []).append((samples, values))

    def edges(self) -> dict[int, LineEdges]:
        """Transitions per line that changed at least once, by line number."""
        return {line: LineEdges(np.concatenate([s for s, _ in parts]), np.concatenate([v for _, v in parts]))
                for line, parts in sorted(self._parts.items())}


def digital_edges(bin_path: str | Path, n_saved_channels: int, column: int) -> dict[int, LineEdges]:
    """The transitions of every line of the digital word in ``column`` of a SpikeGLX ``.bin``.

    Reads the file through a memory map, a block of samples at a time.
    """
    data: np.ndarray = np.memmap(bin_path, dtype="<i2", mode="r")
    data = data[: data.size - data.size % n_saved_channels].reshape(-1, n_saved_channels)
    collector = EdgeCollector()
    for start in range(0, data.shape[0], BLOCK_SAMPLES):
        collector.add(np.array(data[start:start + BLOCK_SAMPLES, column]))
    return collector.edges()
