"""SpikeGLX ``.meta`` files: the recording's parameters, channel map and gains.

A ``.meta`` holds one ``key=value`` pair per line (CRLF or LF). Keys starting with ``~`` are
tables, ``(header)(entry)(entry)...``. :func:`read_meta` and :func:`parse_meta` return a
:class:`SpikeGLXMeta` that names what a converter needs: the stream (imec probe, NI-DAQ or
OneBox), the band, the sampling rate, the saved columns and what they hold, the probe and its
channel map (:class:`ChannelMap`) and the microvolts per bit of every column. Metas written from
2015 (no ``typeThis``) to 2026 (Quad-Base, part numbers in the imro header) are read.

Examples
--------
>>> text = "\\r\\n".join([
...     "typeThis=nidq", "niSampRate=2500", "nSavedChans=1", "snsSaveChanSubset=all",
...     "acqMnMaXaDw=0,0,0,1", "snsMnMaXaDw=0,0,0,1", "niXDChans1=0:7", "fileSizeBytes=813552"])
>>> meta = parse_meta(text, "DigitalChannelTest_g0_t0.nidq.meta")
>>> meta.stream, meta.sampling_rate, meta.digital_channels.tolist(), meta.n_samples_expected
('nidq', 2500.0, [0], 406776)
>>> meta.file_name.run, meta.file_name.gate, meta.file_name.trigger
('DigitalChannelTest', 0, '0')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from labdata.converters.spikeglx._fields import MetaFields, parse_channel_ranges, parse_key_values
from labdata.converters.spikeglx.columns import SavedColumns, classify_saved_columns
from labdata.converters.spikeglx.gains import analog_uv_per_bit, imec_uv_per_bit
from labdata.converters.spikeglx.geometry import ChannelMap, probe_geometry, resolve_probe_part
from labdata.converters.spikeglx.imro import parse_imro_table
from labdata.converters.spikeglx.naming import FileName, parse_file_name

__all__ = ["ChannelMap", "FileName", "SpikeGLXMeta", "parse_file_name", "parse_meta",
           "read_meta"]

_PART_NUMBER = re.compile(r"[A-Za-z][A-Za-z0-9_\-]{1,39}")
_RATE_KEYS = {"imec": "imSampRate", "nidq": "niSampRate", "obx": "obSampRate"}
_MAX_META_BYTES = 16 * 2**20
_BITS_PER_BYTE = 8


@dataclass(frozen=True, eq=False)
class SpikeGLXMeta:
    """One parsed SpikeGLX ``.meta`` file.

    Attributes
    ----------
    name : str
        The file name given (no folders).
    raw : dict
        Every key: tables (``~imroTbl`` ...) without the ``~`` as the list of their parenthesised
        entries, header first; other values as the stripped string.
    stream : str
        ``"imec"``, ``"nidq"`` or ``"obx"`` (``typeThis``; 2015 NI metas without it are nidq).
    band : str or None
        ``"ap"``, ``"lf"``, ``"ap+lf"`` (2016 combined ``.imec.bin``), None for nidq and obx.
    sampling_rate : float
        Samples per second per channel (``imSampRate``, ``niSampRate``, ``obSampRate``).
    n_saved_channels : int
        ``nSavedChans``: columns of the ``.bin``.
    file_size_bytes, file_sha1, file_time_secs, file_create_time, app_version
        As written, None when absent (a meta written while recording has no size or SHA1).
        ``file_sha1`` keeps CatGT's ``"0"``.
    file_name : FileName
        What the name says (run, gate, trigger, probe index, band).
    probe_serial, probe_type, probe_part_number : str or None
        ``imDatPrb_sn`` (``imProbeSN`` for Phase 3A); ``imDatPrb_type`` as an integer string
        (``"0"`` for Phase 3A/3B); ``imDatPrb_pn`` when it looks like a part number. imec only.
    n_shanks : int
        Shanks of the probe (0 for nidq and obx).
    channels : ChannelMap
        Connected recording channels in saved order (reference and sync channels excluded; for
        a combined AP+LF file, the AP channels).
    sync_channel : int or None
        Column of the (first) SY word, None when not saved. Also set for OneBox files.
    ap_uv_per_bit, lf_uv_per_bit : numpy.ndarray
        Microvolts per bit of the AP and LF band for every entry of :attr:`sites` (every saved
        probe channel, connected or not). NP2.0-type probes: LF equals AP.
    analog_channels, analog_uv_per_bit : numpy.ndarray
        nidq/obx: columns of analog inputs (MN, MA, XA) and their microvolts per bit.
    digital_channels : numpy.ndarray
        nidq/obx: columns holding digital words (XD).
    digital_line_numbers : list of int
        nidq: the lines of the digital word(s), from ``niXDChans1`` (``"0:7"`` gives 0..7) and
        ``niXDChans2`` (offset by 8 x ``niXDBytes1``). Empty for imec and obx.
    sites : ChannelMap
        Every saved probe channel (connected or not) mapped onto the probe.
    connected : numpy.ndarray
        Boolean per entry of :attr:`sites`: whether it records (``channels`` = the true ones).
    sync_channels : numpy.ndarray
        Columns of every SY word (Quad-Base probes save 4).
    saved_channel_subset : numpy.ndarray
        Acquisition channel of each column (``snsSaveChanSubset`` expanded).
    column_kinds : numpy.ndarray
        Kind of each column: AP, LF, SY (imec), MN, MA, XA, XD (nidq), XA, XD, SY (obx).
    probe_slot, probe_port, probe_dock : int or None
        Where the probe was plugged (imec only).
    imro_type : str or None
        The imro table's type (``"0"``, ``"21"``, ``"NP2020"``, ...), imec only.
    column_uv_per_bit : numpy.ndarray
        What :meth:`uv_per_bit` returns (kept as a field so the object stays immutable).
    """

    name: str
    raw: dict[str, Any]
    stream: str
    band: str | None
    sampling_rate: float
    n_saved_channels: int
    file_size_bytes: int | None
    file_sha1: str | None
    file_time_secs: float | None
    file_create_time: datetime | None
    app_version: str | None
    file_name: FileName
    saved_channel_subset: np.ndarray
    column_kinds: np.ndarray
    probe_serial: str | None = None
    probe_type: str | None = None
    probe_part_number: str | None = None
    n_shanks: int = 0
    channels: ChannelMap = field(default_factory=ChannelMap.empty)
    sites: ChannelMap = field(default_factory=ChannelMap.empty)
    connected: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    sync_channel: int | None = None
    sync_channels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    ap_uv_per_bit: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lf_uv_per_bit: np.ndarray = field(default_factory=lambda: np.zeros(0))
    analog_channels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    analog_uv_per_bit: np.ndarray = field(default_factory=lambda: np.zeros(0))
    digital_channels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    digital_line_numbers: list[int] = field(default_factory=list)
    probe_slot: int | None = None
    probe_port: int | None = None
    probe_dock: int | None = None
    imro_type: str | None = None
    column_uv_per_bit: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)

    def uv_per_bit(self) -> np.ndarray:
        """Microvolts per bit of every saved column, for this file's band.

        Sync (SY) and digital (XD) columns get 1.0.
        """
        return self.column_uv_per_bit.copy()

    @property
    def n_samples_expected(self) -> int | None:
        """Samples per channel the ``.bin`` should hold (``fileSizeBytes``), None when unknown."""
        if self.file_size_bytes is None:
            return None
        return self.file_size_bytes // (2 * self.n_saved_channels)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SpikeGLXMeta):
            return NotImplemented
        return all(_values_equal(getattr(self, f.name), getattr(other, f.name))
                   for f in dataclass_fields(self))

    __hash__ = None  # type: ignore[assignment]


def _values_equal(left: Any, right: Any) -> bool:
    if isinstance(left, np.ndarray) or isinstance(right, np.ndarray):
        return bool(np.array_equal(left, right))
    return bool(left == right)


def read_meta(path: str | Path) -> SpikeGLXMeta:
    """Read a SpikeGLX ``.meta`` file (any line ending); its name gives run, gate, band, ...

    Parameters
    ----------
    path : str or Path
        The ``.meta`` file.

    Returns
    -------
    SpikeGLXMeta

    Raises
    ------
    RecordingFormatError
        The file is not a well-formed SpikeGLX meta (see :func:`parse_meta`).
    OSError
        The file cannot be read.
    """
    path = Path(path)
    data = path.read_bytes()
    name = path.name
    if len(data) > _MAX_META_BYTES:
        raise MetaFields({}, name).error("file", f"is {len(data)} bytes, too large for a .meta",
                                         hint="Give the .meta file, not the .bin.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return parse_meta(text, name)


def parse_meta(text: str, name: str = "") -> SpikeGLXMeta:
    """Parse the text of a SpikeGLX ``.meta``.

    Parameters
    ----------
    text : str
        The file's text, CRLF or LF.
    name : str, optional
        The file name (no folders), e.g. ``"Run_g0_t0.imec0.ap.meta"``: gives
        :attr:`SpikeGLXMeta.file_name` and is checked against the band the meta saves.

    Returns
    -------
    SpikeGLXMeta

    Raises
    ------
    RecordingFormatError
        A line is not ``key=value``, a table is malformed, ``nSavedChans`` or the sample rate
        is missing or not a number, the imro table's entries disagree with its header,
        ``snsSaveChanSubset`` or ``snsChanMap`` disagree with ``nSavedChans``, the name
        is unsafe, or the name's band disagrees with the channels saved.
    """
    file_name = parse_file_name(name)
    fields = MetaFields(parse_key_values(text, name), name)
    stream = _stream(fields)
    n_saved = fields.integer("nSavedChans")
    if n_saved <= 0:
        raise fields.error("nSavedChans", f"is {n_saved}, not a positive number of channels")
    columns = classify_saved_columns(fields, stream, n_saved=n_saved)
    band = _band(fields, stream, columns, file_name)
    common = _common_values(fields, stream, band, n_saved, file_name, columns)
    common["name"] = name
    if stream == "imec":
        return SpikeGLXMeta(**common, **_imec_values(fields, band, columns))
    return SpikeGLXMeta(**common, **_daq_values(fields, stream, columns))


def _stream(fields: MetaFields) -> str:
    stream = fields.text("typeThis")
    if stream:
        if stream not in _RATE_KEYS:
            raise fields.error("typeThis", f"is {stream[:20]!r}, not imec, nidq or obx")
        return stream
    if any(fields.has(key) for key in ("imroTbl", "imProbeOpt", "imSampRate")):
        return "imec"
    for stream, key in _RATE_KEYS.items():
        if fields.has(key):
            return stream
    raise fields.error("typeThis", "is missing and no sample rate key tells the stream")


def _band(fields: MetaFields, stream: str, columns: SavedColumns,
          file_name: FileName) -> str | None:
    if stream != "imec":
        return None
    saved = [band for band in ("ap", "lf") if columns.count(band.upper())]
    if not saved:
        return file_name.band
    band = "+".join(saved)
    if file_name.band is not None and file_name.band != band:
        raise fields.error("snsSaveChanSubset", f"saves {band.upper()} channels but the file "
                           f"name says .{file_name.band}.", hint="Give the file its SpikeGLX "
                           "name back, or pair this .meta with the right .bin.")
    return band


def _common_values(fields: MetaFields, stream: str, band: str | None, n_saved: int,
                   file_name: FileName, columns: SavedColumns) -> dict[str, Any]:
    rate = _sampling_rate(fields, stream, band)
    size = fields.optional_integer("fileSizeBytes")
    if size is not None and size < 0:
        raise fields.error("fileSizeBytes", f"is {size}, a negative size")
    return dict(
        raw=fields.raw, stream=stream, band=band, sampling_rate=rate, n_saved_channels=n_saved,
        file_size_bytes=size, file_sha1=fields.text("fileSHA1") or None,
        file_time_secs=fields.optional_number("fileTimeSecs"),
        file_create_time=_create_time(fields), app_version=fields.text("appVersion") or None,
        file_name=file_name, saved_channel_subset=columns.acquisition_index,
        column_kinds=columns.kind,
        sync_channels=columns.columns_of("SY"),
        sync_channel=int(columns.columns_of("SY")[0]) if columns.count("SY") else None,
    )


def _sampling_rate(fields: MetaFields, stream: str, band: str | None) -> float:
    key = _RATE_KEYS[stream]
    if band == "lf" and fields.has("imLfSampRate"):
        key = "imLfSampRate"
    rate = fields.number(key)
    if rate <= 0:
        raise fields.error(key, f"is {rate:g}, not a positive rate")
    return rate


def _create_time(fields: MetaFields) -> datetime | None:
    text = fields.text("fileCreateTime")
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise fields.error("fileCreateTime", f"is {text[:40]!r}, not a date and time") from None


def _imec_values(fields: MetaFields, band: str | None, columns: SavedColumns) -> dict[str, Any]:
    entries = fields.table("imroTbl")
    if entries is None:
        raise fields.error("imroTbl", "is missing")
    imro = parse_imro_table(entries, fields)
    part_number = _part_number(fields, imro.imro_type)
    part = resolve_probe_part(part_number, imro)
    geometry = probe_geometry(fields, imro, part=part, columns=columns,
                              kind="LF" if band == "lf" else "AP")
    ap_per_readout, lf_per_readout = imec_uv_per_bit(fields, imro, part=part)
    readout = columns.kind_index[geometry.sites.saved_index]
    return dict(
        probe_serial=(fields.text("imDatPrb_sn") or fields.text("imProbeSN") or None),
        probe_type=_probe_type(fields, imro.imro_type), probe_part_number=part_number,
        n_shanks=geometry.n_shanks, channels=geometry.channels, sites=geometry.sites,
        connected=geometry.connected, ap_uv_per_bit=ap_per_readout[readout],
        lf_uv_per_bit=lf_per_readout[readout], imro_type=imro.imro_type,
        probe_slot=fields.optional_integer("imDatPrb_slot"),
        probe_port=fields.optional_integer("imDatPrb_port"),
        probe_dock=fields.optional_integer("imDatPrb_dock"),
        column_uv_per_bit=_imec_column_uv(columns, ap_per_readout, lf_per_readout),
    )


def _imec_column_uv(columns: SavedColumns, ap: np.ndarray, lf: np.ndarray) -> np.ndarray:
    per_column = np.ones(len(columns.kind))
    for kind, per_readout in (("AP", ap), ("LF", lf)):
        selected = columns.columns_of(kind)
        per_column[selected] = per_readout[columns.kind_index[selected]]
    return per_column


def _part_number(fields: MetaFields, imro_type: str) -> str | None:
    for candidate in (fields.text("imDatPrb_pn"), imro_type):
        if candidate and _PART_NUMBER.fullmatch(candidate) and not candidate.isdigit():
            return candidate
    return None


def _probe_type(fields: MetaFields, imro_type: str) -> str:
    for candidate in (fields.text("imDatPrb_type"), imro_type):
        if candidate and re.fullmatch(r"\d{1,6}", candidate):
            return str(int(candidate))
    return "0"


def _daq_values(fields: MetaFields, stream: str, columns: SavedColumns) -> dict[str, Any]:
    analog = columns.columns_of("MN", "MA", "XA")
    analog_uv = analog_uv_per_bit(fields, stream, kinds=columns.kind[analog])
    per_column = np.ones(len(columns.kind))
    per_column[analog] = analog_uv
    return dict(
        analog_channels=analog, analog_uv_per_bit=analog_uv,
        digital_channels=columns.columns_of("XD"),
        digital_line_numbers=_digital_lines(fields) if stream == "nidq" else [],
        column_uv_per_bit=per_column,
    )


def _digital_lines(fields: MetaFields) -> list[int]:
    lines: list[int] = []
    offset = 0
    for device in (1, 2):
        text = fields.text(f"niXDChans{device}")
        if text:
            channels = parse_channel_ranges(text)
            if channels is None:
                raise fields.error(f"niXDChans{device}", f"is {text[:40]!r}, not a line list")
            lines.extend(int(line) + offset for line in channels)
        offset += _BITS_PER_BYTE * fields.integer(f"niXDBytes{device}", default=1)
    return lines
