"""Channel maps of Neuropixels recordings: where each saved channel sits on the probe.

Recent SpikeGLX versions write ``~snsGeomMap``: a header ``(part,shanks,shank_pitch,
shank_width)`` and, per saved probe channel, ``(shank:x:y:connected)`` with ``x`` from the
shank's left edge. Without it the sites come from ``~imroTbl`` (the electrode each readout
channel records) and the site layout of the probe's part number
(:mod:`~labdata.converters.spikeglx.catalogue`), and the connected flags from
``~snsShankMap`` ``(shank:column:row:connected)``, or, when a meta has neither map (LF metas of
older versions), from the probe type's on-shank reference channels.

Coordinates follow probeinterface (see :mod:`~labdata.converters.spikeglx.catalogue`): a
``snsGeomMap`` x has the part's ``odd_row_x0`` subtracted, so both sources agree.

Examples
--------
>>> channels = ChannelMap(np.array([0, 1]), np.array([0, 0]), np.array([[16.0, 0], [48, 0]]))
>>> len(channels), channels.select(np.array([False, True])).coords.tolist()
(2, [[48.0, 0.0]])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labdata.converters.spikeglx._fields import MetaFields
from labdata.converters.spikeglx.catalogue import PROBE_PARTS, ProbePart, default_part_for_imro_type
from labdata.converters.spikeglx.columns import SavedColumns
from labdata.converters.spikeglx.imro import ImroTable

__all__ = ["ChannelMap", "ProbeGeometry", "probe_geometry", "resolve_probe_part"]


@dataclass(frozen=True, eq=False)
class ChannelMap:
    """Channels of a saved file and where they sit, in saved-file order.

    Attributes
    ----------
    saved_index : numpy.ndarray
        (N,) int: column of each channel in the saved ``.bin``.
    shank : numpy.ndarray
        (N,) int: shank of each channel.
    coords : numpy.ndarray
        (N, 2) float: x, y in um; x already offset by shank index x shank pitch.
    """

    saved_index: np.ndarray
    shank: np.ndarray
    coords: np.ndarray

    def __len__(self) -> int:
        return len(self.saved_index)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ChannelMap):
            return NotImplemented
        return (np.array_equal(self.saved_index, other.saved_index)
                and np.array_equal(self.shank, other.shank)
                and np.array_equal(self.coords, other.coords))

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def empty(cls) -> ChannelMap:
        """A map without channels (nidq and OneBox files)."""
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 2)))

    def select(self, keep: np.ndarray) -> ChannelMap:
        """The channels where ``keep`` (a boolean mask or indices) selects them."""
        return ChannelMap(self.saved_index[keep], self.shank[keep], self.coords[keep])


@dataclass(frozen=True)
class ProbeGeometry:
    """Every saved probe channel of a file, whether it records, and the probe's shank count."""

    sites: ChannelMap
    connected: np.ndarray
    n_shanks: int

    @property
    def channels(self) -> ChannelMap:
        """The connected channels only."""
        return self.sites.select(self.connected)


def resolve_probe_part(part_number: str | None, imro: ImroTable) -> ProbePart:
    """The catalogue entry for a probe: its part number if known and of the imro table's format,
    else the part SpikeGLX assumes for the imro type (NP1.0 for Phase 3A)."""
    part = PROBE_PARTS.get(part_number or "")
    if part is not None and part.imro_format == imro.imro_format:
        return part
    return PROBE_PARTS[default_part_for_imro_type(imro.imro_type) or "NP1000"]


def probe_geometry(fields: MetaFields, imro: ImroTable, *, part: ProbePart,
                   columns: SavedColumns, kind: str) -> ProbeGeometry:
    """Map the saved channels of one kind (``"AP"`` or ``"LF"``) onto the probe.

    Parameters
    ----------
    fields : MetaFields
        The meta.
    imro : ImroTable
        Its parsed imro table.
    part : ProbePart
        The probe's catalogue entry (:func:`resolve_probe_part`).
    columns : SavedColumns
        The file's saved columns.
    kind : str
        Which columns to map: ``"AP"`` (AP files and combined AP+LF files) or ``"LF"``.

    Returns
    -------
    ProbeGeometry

    Raises
    ------
    RecordingFormatError
        A saved AP or LF channel is not in the imro table, an electrode is not on the probe, or
        ``snsGeomMap``/``snsShankMap`` has a different number of entries than saved channels.
    """
    probe_columns = columns.columns_of("AP", "LF")
    if len(probe_columns) and columns.kind_index[probe_columns].max() >= imro.n_channels:
        raise fields.error("snsSaveChanSubset", f"saves probe channel "
                           f"{columns.kind_index[probe_columns].max()} but imroTbl has "
                           f"{imro.n_channels} channels")
    saved_index = columns.columns_of(kind)
    readout = columns.kind_index[saved_index]
    electrode, shank = imro.electrode[readout], imro.shank[readout]
    _check_on_probe(fields, part, electrode, shank)
    geometry = _from_geom_map(fields, part, saved_index)
    if geometry is not None:
        return geometry
    sites = ChannelMap(saved_index, shank, part.layout.positions(electrode, shank))
    connected = _connected_from_shank_map(fields, len(saved_index))
    if connected is None:
        connected = ~np.isin(readout, imro.reference_channels())
    return ProbeGeometry(sites, connected, part.layout.shanks)


def _check_on_probe(fields: MetaFields, part: ProbePart, electrode: np.ndarray,
                    shank: np.ndarray) -> None:
    layout = part.layout
    outside = (electrode < 0) | (electrode >= layout.electrodes_per_shank)
    outside |= (shank < 0) | (shank >= layout.shanks)
    if np.any(outside):
        first = int(np.flatnonzero(outside)[0])
        raise fields.error("imroTbl", f"selects electrode {electrode[first]} on shank "
                           f"{shank[first]}, which this probe does not have")


def _map_entries(fields: MetaFields, key: str, n_sites: int) -> tuple[str, np.ndarray] | None:
    """Header and (n_sites, 4) numeric entries of ``snsGeomMap``/``snsShankMap``, if present."""
    table = fields.table(key)
    if table is None:
        return None
    entries = table[1:]
    if len(entries) != n_sites:
        raise fields.error(key, f"has {len(entries)} entries but the file saves {n_sites} "
                           "probe channels")
    try:
        values = np.array([[float(v) for v in entry.split(":")] for entry in entries], float)
    except ValueError:
        raise fields.error(key, "has an entry that is not numbers separated by ':'") from None
    if values.size and (values.ndim != 2 or values.shape[1] != 4):
        raise fields.error(key, "has entries without 4 fields (shank:x:y:connected)")
    if not np.all(np.isfinite(values)):
        raise fields.error(key, "has an entry that is not a finite number")
    return table[0], values.reshape(n_sites, 4)


def _from_geom_map(fields: MetaFields, part: ProbePart,
                   saved_index: np.ndarray) -> ProbeGeometry | None:
    parsed = _map_entries(fields, "snsGeomMap", len(saved_index))
    if parsed is None:
        return None
    header, values = parsed
    shanks, shank_pitch = _geom_header(fields, header)
    shank = values[:, 0].astype(np.int64)
    x = values[:, 1] - part.layout.odd_row_x0 + shank * shank_pitch
    coords = np.column_stack([x, values[:, 2]])
    return ProbeGeometry(ChannelMap(saved_index, shank, coords), values[:, 3] != 0, shanks)


def _geom_header(fields: MetaFields, header: str) -> tuple[int, float]:
    parts = header.split(",")
    try:
        shanks, shank_pitch = int(parts[1]), float(parts[2])
    except (IndexError, ValueError):
        raise fields.error("snsGeomMap", f"has a malformed header ({header[:40]})") from None
    return shanks, shank_pitch


def _connected_from_shank_map(fields: MetaFields, n_sites: int) -> np.ndarray | None:
    parsed = _map_entries(fields, "snsShankMap", n_sites)
    return None if parsed is None else parsed[1][:, 3] != 0
