"""The imro table (``~imroTbl``): which electrode each readout channel records, and its gains.

The table is a header followed by one entry per readout channel (per group of 16 channels for
the NP1110 UHD probe). SpikeGLX identifies the entry format by the header's first field: an imro
type (``0``, ``21``, ``24``, ``2013``, ...), a part number in versions from 2026 (``NP2020``),
or three header fields for Phase 3A (``serial,option,channels``). As SpikeGLX does, an entry's
position is its readout channel; the channel field written in it is not used.

Examples
--------
>>> table = parse_imro_table(["0,3", "0 1 0 500 250 1", "1 0 0 500 250 1", "2 0 0 500 250 1"],
...                          MetaFields({}, "run.imec0.ap.meta"))
>>> table.imro_type, table.electrode.tolist(), table.ap_gain.tolist()
('0', [384, 1, 2], [500.0, 500.0, 500.0])
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from labdata.converters.spikeglx._fields import MetaFields
from labdata.converters.spikeglx.catalogue import (
    IMRO_FORMATS,
    PHASE3A_REFERENCE_CHANNELS,
    PROBE_PARTS,
    ImroFormat,
    default_part_for_imro_type,
    reference_channels_for_imro_type,
)

__all__ = ["ImroTable", "parse_imro_table"]

_UHD_GROUPS = 24
_UHD_CHANNELS = 384
_NP1_CHANNELS_PER_BANK = 384
_INTEGER = re.compile(r"[+-]?\d+")
_UNKNOWN_TYPE_HINT = ("labdata does not know this probe type. Update labdata; if this is the "
                      "latest version, report the probe part number (imDatPrb_pn).")


@dataclass(frozen=True)
class ImroTable:
    """The parsed imro table, indexed by readout channel.

    Attributes
    ----------
    imro_type : str
        The header's type: ``"0"`` (also Phase 3A), ``"21"``, ``"NP2020"``, ...
    imro_format : str
        One of :class:`~labdata.converters.spikeglx.catalogue.ImroFormat`.
    electrode : numpy.ndarray
        Electrode index on its shank, per readout channel.
    shank : numpy.ndarray
        Shank index per readout channel.
    ap_gain, lf_gain : numpy.ndarray or None
        Gains per readout channel when the table sets them, else None (fixed-gain probes).
    phase3a_option : int or None
        The Phase 3A probe option (1 to 4), None for later probes.
    """

    imro_type: str
    imro_format: str
    electrode: np.ndarray
    shank: np.ndarray
    ap_gain: np.ndarray | None
    lf_gain: np.ndarray | None
    phase3a_option: int | None = None

    @property
    def n_channels(self) -> int:
        """Number of readout channels."""
        return len(self.electrode)

    def reference_channels(self) -> tuple[int, ...]:
        """Readout channels wired to the on-shank reference (SpikeGLX marks them unused)."""
        if self.phase3a_option is None:
            return reference_channels_for_imro_type(self.imro_type)
        return tuple(c for c in PHASE3A_REFERENCE_CHANNELS if c < self.n_channels)


def parse_imro_table(entries: list[str], fields: MetaFields) -> ImroTable:
    """Parse the entries of ``~imroTbl`` (header first).

    Parameters
    ----------
    entries : list of str
        The table's parenthesised entries without parentheses.
    fields : MetaFields
        The meta the table comes from (for error messages).

    Returns
    -------
    ImroTable

    Raises
    ------
    RecordingFormatError
        The header is malformed or of an unknown probe type, the number of entries disagrees
        with the header, or an entry does not have the fields its format needs.
    """
    if not entries:
        raise fields.error("imroTbl", "is empty")
    header = [part.strip() for part in entries[0].split(",")]
    imro_format = _imro_format(header, fields)
    rows = _entry_rows(entries[1:], imro_format, fields)
    _check_entry_count(header, imro_format, len(rows), fields)
    imro_type = "0" if imro_format == ImroFormat.PHASE3A else header[0]
    if imro_format == ImroFormat.UHD_GROUPS:
        return _uhd_table(imro_type, header, rows, fields)
    return _channel_table(imro_type, imro_format, header, rows)


def _imro_format(header: list[str], fields: MetaFields) -> str:
    if len(header) == 3 and all(_INTEGER.fullmatch(part) for part in header):
        return ImroFormat.PHASE3A
    part = default_part_for_imro_type(header[0])
    if part is None:
        raise fields.error("imroTbl", f"has probe type {header[0][:20]!r}, which labdata does "
                           "not know", hint=_UNKNOWN_TYPE_HINT)
    return PROBE_PARTS[part].imro_format


def _entry_rows(entries: list[str], imro_format: str, fields: MetaFields) -> np.ndarray:
    width = IMRO_FORMATS[imro_format]
    rows = []
    for index, entry in enumerate(entries):
        values = entry.split()
        if len(values) != width or not all(_INTEGER.fullmatch(v) for v in values):
            raise fields.error("imroTbl", f"entry {index} is ({entry[:40]}), expected {width} "
                               "integers")
        rows.append([int(v) for v in values])
    return np.array(rows, dtype=np.int64).reshape(len(rows), width)


def _check_entry_count(header: list[str], imro_format: str, count: int,
                       fields: MetaFields) -> None:
    if imro_format == ImroFormat.UHD_GROUPS:
        expected = _UHD_GROUPS if len(header) == 6 else None
    elif imro_format == ImroFormat.PHASE3A:
        expected = int(header[2])
    else:
        expected = int(header[1]) if len(header) == 2 and _INTEGER.fullmatch(header[1]) else None
    if expected is None:
        raise fields.error("imroTbl", f"has a malformed header ({','.join(header)[:40]})")
    if count != expected or count == 0:
        raise fields.error("imroTbl", f"has {count} entries but its header says {expected}")


def _channel_table(imro_type: str, imro_format: str, header: list[str],
                   rows: np.ndarray) -> ImroTable:
    channel = np.arange(len(rows), dtype=np.int64)
    if imro_format in (ImroFormat.NP1, ImroFormat.PHASE3A):
        channels_per_bank = len(rows) if imro_format == ImroFormat.PHASE3A else _NP1_CHANNELS_PER_BANK
        return ImroTable(
            imro_type=imro_type, imro_format=imro_format,
            electrode=rows[:, 1] * channels_per_bank + channel,
            shank=np.zeros(len(rows), dtype=np.int64),
            ap_gain=rows[:, 3].astype(float), lf_gain=rows[:, 4].astype(float),
            phase3a_option=int(header[1]) if imro_format == ImroFormat.PHASE3A else None,
        )
    shank = rows[:, 1] if imro_format == ImroFormat.MULTI_SHANK else np.zeros(len(rows), np.int64)
    return ImroTable(imro_type=imro_type, imro_format=imro_format, electrode=rows[:, -1].copy(),
                     shank=shank.copy(), ap_gain=None, lf_gain=None)


def _uhd_table(imro_type: str, header: list[str], rows: np.ndarray,
               fields: MetaFields) -> ImroTable:
    if not all(_INTEGER.fullmatch(part) for part in header[1:]):
        raise fields.error("imroTbl", f"has a malformed header ({','.join(header)[:40]})")
    column_mode, ap_gain, lf_gain = int(header[1]), float(header[3]), float(header[4])
    electrode = np.array([_uhd_electrode(channel, rows, column_mode)
                          for channel in range(_UHD_CHANNELS)], dtype=np.int64)
    return ImroTable(
        imro_type=imro_type, imro_format=ImroFormat.UHD_GROUPS, electrode=electrode,
        shank=np.zeros(_UHD_CHANNELS, dtype=np.int64),
        ap_gain=np.full(_UHD_CHANNELS, ap_gain), lf_gain=np.full(_UHD_CHANNELS, lf_gain),
    )


# NP1110 (UHD2, switchable) electrode addressing, after SpikeGLX ``IMROTbl_T1110.cpp`` as ported
# to Python by probeinterface (``_resolve_active_contacts_for_np1110``, MIT). Each of the 24
# groups of 16 channels selects bank A (and bank B for the inner/outer column modes).
_UHD_GROUP_COLUMNS = (0, 3, 1, 2, 1, 2, 0, 3)
_UHD_INNER, _UHD_OUTER, _UHD_ALL = 0, 1, 2


def _uhd_group(channel: int) -> int:
    return 2 * ((channel % 384) // 32) + ((channel % 384) & 1)


def _uhd_column(channel: int, bank: int) -> int:
    group_column = _UHD_GROUP_COLUMNS[4 * (bank & 1) + (_uhd_group(channel) % 4)]
    crossed = (bank // 4) & 1
    in_group_column = ((((channel % 64) % 32) // 2) & 1) ^ crossed
    if channel & 1:
        return 2 * group_column + (1 - in_group_column)
    return 2 * group_column + in_group_column


def _uhd_row(channel: int, bank: int) -> int:
    group_row = _uhd_group(channel) // 4
    in_group_row = ((channel % 64) % 32) // 4
    bank0_row = 8 * group_row + (7 - in_group_row if channel & 1 else in_group_row)
    return 48 * bank + bank0_row


def _uhd_bank(channel: int, bank_a: int, bank_b: int, column_mode: int) -> int:
    if column_mode == _UHD_ALL:
        return bank_a
    column = _uhd_column(channel, bank_a)
    odd_column = bool(column & 1)
    take_a = odd_column if column <= 3 else not odd_column
    if column_mode == _UHD_OUTER:
        take_a = not take_a
    return bank_a if take_a else bank_b


def _uhd_electrode(channel: int, rows: np.ndarray, column_mode: int) -> int:
    _, bank_a, bank_b = (int(v) for v in rows[_uhd_group(channel)])
    bank = _uhd_bank(channel, bank_a, bank_b, column_mode)
    return 8 * _uhd_row(channel, bank) + _uhd_column(channel, bank)
