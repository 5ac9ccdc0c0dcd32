"""What each column of a SpikeGLX ``.bin`` holds.

A stream acquires its channels in a fixed order of kinds: imec ``AP``, ``LF``, ``SY`` (sync
word); nidq ``MN``, ``MA`` (multiplexed neural and aux analog), ``XA`` (analog), ``XD``
(digital words); OneBox ``XA``, ``XD``, ``SY``. The counts acquired are in ``acqApLfSy``,
``acqMnMaXaDw`` or ``acqXaDwSy``; ``snsSaveChanSubset`` lists the acquisition indices saved to
the file, in file order (``all`` when every channel was saved), and ``snsApLfSy`` etc. the
counts saved. Older metas lack some keys; the fallbacks are those of SpikeGLX's own readers.

Examples
--------
>>> fields = MetaFields({"acqApLfSy": "384,384,1", "snsSaveChanSubset": "0:1,768",
...                      "nSavedChans": "3"}, "run.imec0.ap.meta")
>>> columns = classify_saved_columns(fields, "imec", n_saved=3)
>>> columns.kind.tolist(), columns.kind_index.tolist()
(['AP', 'AP', 'SY'], [0, 1, 0])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labdata.converters.spikeglx._fields import MetaFields, parse_channel_ranges

__all__ = ["STREAM_KINDS", "SavedColumns", "classify_saved_columns"]

#: The kinds of channel of each stream, in acquisition order.
STREAM_KINDS: dict[str, tuple[str, ...]] = {
    "imec": ("AP", "LF", "SY"),
    "nidq": ("MN", "MA", "XA", "XD"),
    "obx": ("XA", "XD", "SY"),
}
_ACQUIRED_KEYS = {"imec": "acqApLfSy", "nidq": "acqMnMaXaDw", "obx": "acqXaDwSy"}
_SAVED_KEYS = {"imec": "snsApLfSy", "nidq": "snsMnMaXaDw", "obx": "snsXaDwSy"}
_WORD_BITS = 16


@dataclass(frozen=True)
class SavedColumns:
    """The saved columns of a file, in file order.

    Attributes
    ----------
    acquisition_index : numpy.ndarray
        Acquisition channel of each column (the expanded ``snsSaveChanSubset``).
    kind : numpy.ndarray
        Kind of each column (``"AP"``, ``"LF"``, ``"SY"``, ``"MN"``, ``"MA"``, ``"XA"``, ``"XD"``).
    kind_index : numpy.ndarray
        Index of each column within its kind: the probe readout channel for AP and LF.
    """

    acquisition_index: np.ndarray
    kind: np.ndarray
    kind_index: np.ndarray

    def columns_of(self, *kinds: str) -> np.ndarray:
        """Saved columns (file column indices) holding any of ``kinds``."""
        return np.flatnonzero(np.isin(self.kind, kinds)).astype(np.int64)

    def count(self, kind: str) -> int:
        """Number of saved columns of one kind."""
        return int(np.count_nonzero(self.kind == kind))


def classify_saved_columns(fields: MetaFields, stream: str, *, n_saved: int) -> SavedColumns:
    """Classify every saved column of a file.

    Parameters
    ----------
    fields : MetaFields
        The meta.
    stream : str
        ``"imec"``, ``"nidq"`` or ``"obx"``.
    n_saved : int
        ``nSavedChans``.

    Returns
    -------
    SavedColumns

    Raises
    ------
    RecordingFormatError
        ``snsSaveChanSubset`` or the channel counts disagree with ``nSavedChans`` or each other.
    """
    kinds = STREAM_KINDS[stream]
    acquired, source = _acquired_counts(fields, stream)
    saved_index = _saved_acquisition_indices(fields, n_saved, acquired, source)
    if acquired is None:
        acquired = _counts_when_all_saved(fields, stream, saved_index)
    bounds = np.cumsum(acquired)
    if len(saved_index) and saved_index[-1] >= bounds[-1]:
        raise fields.error("snsSaveChanSubset", f"lists channel {saved_index[-1]} but {source} "
                           f"says only {bounds[-1]} channels were acquired")
    kind_number = np.searchsorted(bounds, saved_index, side="right")
    starts = np.concatenate([[0], bounds[:-1]])
    columns = SavedColumns(
        acquisition_index=saved_index,
        kind=np.array([kinds[k] for k in kind_number], dtype="<U2"),
        kind_index=(saved_index - starts[kind_number]).astype(np.int64),
    )
    _check_saved_counts(fields, stream, columns)
    return columns


def _saved_acquisition_indices(fields: MetaFields, n_saved: int, acquired: list[int] | None,
                               source: str) -> np.ndarray:
    text = fields.text("snsSaveChanSubset")
    if text is None or text == "all":
        total = sum(acquired) if acquired is not None else n_saved
        if total != n_saved:
            raise fields.error("nSavedChans", f"is {n_saved} but {source} says {total} channels "
                               "were acquired, and all were saved (snsSaveChanSubset=all)")
        return np.arange(n_saved, dtype=np.int64)
    subset = fields.channel_ranges("snsSaveChanSubset")
    if subset is None or len(subset) != n_saved:
        listed = 0 if subset is None else len(subset)
        raise fields.error("snsSaveChanSubset", f"lists {listed} channels but nSavedChans "
                           f"is {n_saved}")
    if np.any(np.diff(subset) <= 0):
        raise fields.error("snsSaveChanSubset", "is not in increasing order")
    return subset


def _acquired_counts(fields: MetaFields, stream: str) -> tuple[list[int] | None, str]:
    """Channels acquired of each kind, and the key they were read from."""
    source = _ACQUIRED_KEYS[stream]
    counts = fields.integers(source)
    if counts is None and stream == "nidq":
        counts, source = _legacy_nidq_counts(fields), "niMNChans1/niMAChans1/niXAChans1/niXDChans1"
    if counts is None:
        counts, source = _counts_from_channel_map(fields, stream), "snsChanMap"
    if counts is not None and (len(counts) != len(STREAM_KINDS[stream]) or min(counts) < 0):
        raise fields.error(source, f"has counts {counts}, expected "
                           f"{len(STREAM_KINDS[stream])} non-negative counts")
    return counts, source


def _counts_from_channel_map(fields: MetaFields, stream: str) -> list[int] | None:
    """Acquired counts from the ``snsChanMap`` header: imec/obx (a,b,c); nidq (MN,MA,mux,XA,XD)."""
    table = fields.table("snsChanMap")
    if not table:
        return None
    header = [part.strip() for part in table[0].split(",")]
    if not all(part.isdigit() for part in header):
        raise fields.error("snsChanMap", f"has a malformed header ({table[0][:40]})")
    values = [int(part) for part in header]
    if stream == "nidq":
        return [values[0], values[1], values[3], values[4]] if len(values) == 5 else None
    return values[:3] if len(values) == 3 else None


def _legacy_nidq_counts(fields: MetaFields) -> list[int] | None:
    """nidq counts of metas without ``acqMnMaXaDw``, as SpikeGLX's ``DataFileNI`` derives them."""
    six = fields.integers("acqApLfMnMaXaDw")
    if six is not None:
        return six[2:] if len(six) == 6 else six
    if not any(fields.has(f"ni{kind}Chans1") for kind in ("MN", "MA", "XA", "XD")):
        return None
    mux = fields.integer("niMuxFactor", default=1)

    def count(kind: str) -> int:
        text = ",".join(fields.text(f"ni{kind}Chans{device}") or "" for device in (1, 2))
        channels = parse_channel_ranges(text)
        if channels is None:
            raise fields.error(f"ni{kind}Chans1", f"is not a channel list ({text[:40]!r})")
        return len(channels)

    words = (count("XD") + _WORD_BITS - 1) // _WORD_BITS
    return [count("MN") * mux, count("MA") * mux, count("XA"), words]


def _counts_when_all_saved(fields: MetaFields, stream: str, saved_index: np.ndarray) -> list[int]:
    """Acquired counts of a meta without them: the saved counts, when every channel was saved."""
    saved = _saved_counts(fields, stream)
    all_saved = np.array_equal(saved_index, np.arange(len(saved_index)))
    if saved is None or not all_saved or sum(saved) != len(saved_index):
        raise fields.error(_ACQUIRED_KEYS[stream], "is missing, and neither snsChanMap nor "
                           f"{_SAVED_KEYS[stream]} tells what the saved channels are")
    return saved


def _saved_counts(fields: MetaFields, stream: str) -> list[int] | None:
    counts = fields.integers(_SAVED_KEYS[stream])
    if counts is None and stream == "nidq":
        six = fields.integers("snsApLfMnMaXaDw")
        counts = six[2:] if six is not None and len(six) == 6 else six
    return counts


def _check_saved_counts(fields: MetaFields, stream: str, columns: SavedColumns) -> None:
    saved = _saved_counts(fields, stream)
    if saved is None:
        return
    found = [columns.count(kind) for kind in STREAM_KINDS[stream]]
    if saved != found:
        raise fields.error(_SAVED_KEYS[stream], f"says {saved} channels of each kind were saved "
                           f"but snsSaveChanSubset gives {found}")
