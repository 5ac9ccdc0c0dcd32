"""The Neuropixels probes labdata knows: site layout, imro table format, fixed gain, reference.

The per-part numbers are those of Bill Karsh's ProbeTable (https://github.com/billkarsh/ProbeTable)
as bundled by probeinterface (``resources/neuropixels_probe_features.json``, table version 1.8;
probeinterface is MIT licensed, Copyright (c) 2021 SpikeInterface). Only what labdata needs to
place sites and scale samples is kept here; ``tests/converters/test_spikeglx_meta.py`` checks
this copy against probeinterface's.

Coordinates follow probeinterface: ``x`` is measured from the centre of the leftmost column of
the odd rows of shank 0 (plus shank index x shank pitch), ``y`` from the centre of the bottom
row. SpikeGLX's ``snsGeomMap`` measures ``x`` from the shank's left edge instead; the
difference is :attr:`SiteLayout.odd_row_x0`.

Examples
--------
>>> layout = PROBE_PARTS["NP1000"].layout
>>> layout.positions(np.array([0, 1, 2]), np.zeros(3, int)).tolist()
[[16.0, 0.0], [48.0, 0.0], [0.0, 20.0]]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "IMRO_FORMATS",
    "PHASE3A_REFERENCE_CHANNELS",
    "PROBE_PARTS",
    "ImroFormat",
    "ProbePart",
    "SiteLayout",
    "default_part_for_imro_type",
    "reference_channels_for_imro_type",
]


@dataclass(frozen=True)
class SiteLayout:
    """Where the electrodes of one probe model sit.

    Electrode ``e`` of a shank is in row ``e // columns`` and column ``e % columns``; even rows
    (0, 2, ...) are shifted right by ``even_row_x0 - odd_row_x0`` (the NP1.0 stagger).
    """

    shanks: int
    columns: int
    rows: int
    x_pitch: float
    y_pitch: float
    even_row_x0: float
    odd_row_x0: float
    shank_pitch: float = 0.0

    @property
    def electrodes_per_shank(self) -> int:
        """Number of electrodes on one shank."""
        return self.columns * self.rows

    def positions(self, electrode: np.ndarray, shank: np.ndarray) -> np.ndarray:
        """(N, 2) x, y in um of electrodes (index on their shank), x including the shank offset."""
        row, column = np.divmod(np.asarray(electrode), self.columns)
        stagger = np.where(row % 2 == 0, self.even_row_x0 - self.odd_row_x0, 0.0)
        x = column * self.x_pitch + stagger + np.asarray(shank) * self.shank_pitch
        return np.column_stack([x, row * self.y_pitch]).astype(float)


class ImroFormat:
    """Names of the imro table formats (the fields of each entry)."""

    NP1 = "np1"                    # (channel bank ref ap_gain lf_gain ap_highpass)
    PHASE3A = "phase3a"            # (channel bank ref ap_gain lf_gain), header (serial,option,n)
    UHD_GROUPS = "uhd_groups"      # NP1110: (group bankA bankB), 24 groups, gains in the header
    SINGLE_SHANK = "single_shank"  # NP2.0 1-shank: (channel bank_mask ref electrode)
    MULTI_SHANK = "multi_shank"    # NP2.0 4-shank, Quad-Base: (channel shank bank ref electrode)


#: Number of fields of one imro entry, per format.
IMRO_FORMATS: dict[str, int] = {
    ImroFormat.NP1: 6, ImroFormat.PHASE3A: 5, ImroFormat.UHD_GROUPS: 3,
    ImroFormat.SINGLE_SHANK: 4, ImroFormat.MULTI_SHANK: 5,
}


@dataclass(frozen=True)
class ProbePart:
    """One probe part number: its layout, imro format and fixed AP gain (None: set per channel)."""

    layout: SiteLayout
    imro_format: str
    fixed_gain: float | None
    reference_channel: int | None = None


_NP1 = SiteLayout(1, 2, 480, 32, 20, 27, 11)
_NP1_LINEAR = SiteLayout(1, 2, 480, 32, 20, 27, 27)
_NHP_MEDIUM = SiteLayout(1, 2, 1248, 87, 20, 27, 11)
_NHP_MEDIUM_LINEAR = SiteLayout(1, 2, 1248, 103, 20, 11, 11)
_NHP_LONG = SiteLayout(1, 2, 2208, 87, 20, 27, 11)
_NHP_LONG_LINEAR = SiteLayout(1, 2, 2208, 103, 20, 11, 11)
_NP2_SINGLE = SiteLayout(1, 2, 640, 32, 15, 27, 27)
_NP2_FOUR = SiteLayout(4, 2, 640, 32, 15, 27, 27, 250)

_F = ImroFormat
_PART_GROUPS: list[tuple[tuple[str, ...], ProbePart]] = [
    (("NP1000", "NP1001", "NP1010", "NP1011", "NP1012", "NP1013", "NP1014",
      "PRB_1_2_0480_2", "PRB_1_4_0480_1", "PRB_1_4_0480_1_C"), ProbePart(_NP1, _F.NP1, None, 191)),
    (("NP1015", "NP1016", "NP1017"), ProbePart(_NP1_LINEAR, _F.NP1, None, 191)),
    (("NP1020", "NP1021"), ProbePart(_NHP_MEDIUM, _F.NP1, None, 191)),
    (("NP1022",), ProbePart(_NHP_MEDIUM_LINEAR, _F.NP1, None, 191)),
    (("NP1030", "NP1031"), ProbePart(_NHP_LONG, _F.NP1, None, 191)),
    (("NP1032", "NP1033", "NP1040", "NP1041", "NP1042", "NP1050", "NP1051"),
     ProbePart(_NHP_LONG_LINEAR, _F.NP1, None, 191)),
    (("NP1100",), ProbePart(SiteLayout(1, 8, 48, 6, 6, 14, 14), _F.NP1, None)),
    (("NP1110",), ProbePart(SiteLayout(1, 8, 768, 6, 6, 15.5, 15.5), _F.UHD_GROUPS, None)),
    (("NP1120",), ProbePart(SiteLayout(1, 2, 192, 4.5, 4.5, 6.75, 6.75), _F.NP1, None)),
    (("NP1121",), ProbePart(SiteLayout(1, 1, 384, 0, 3, 6.25, 6.25), _F.NP1, None)),
    (("NP1122",), ProbePart(SiteLayout(1, 16, 24, 3, 3, 12.5, 12.5), _F.NP1, None)),
    (("NP1123",), ProbePart(SiteLayout(1, 12, 32, 4.5, 4.5, 10.25, 10.25), _F.NP1, None)),
    (("NP1200", "NP1210"), ProbePart(SiteLayout(1, 2, 64, 32, 31, 56.5, 36.5), _F.NP1, None)),
    (("NP1300", "NP1400"), ProbePart(SiteLayout(1, 2, 480, 48, 20, 11, 11), _F.NP1, None, 191)),
    (("NP2000", "PRB2_1_2_0640_0"), ProbePart(_NP2_SINGLE, _F.SINGLE_SHANK, 80, 127)),
    (("NP2003", "NP2004", "NP2005", "NP3010", "NP3011", "NP3012"),
     ProbePart(_NP2_SINGLE, _F.SINGLE_SHANK, 100)),
    (("NP2006",), ProbePart(SiteLayout(1, 2, 640, 32, 15, 27, 11), _F.SINGLE_SHANK, 100)),
    (("NP2010", "PRB2_4_2_0640_0"), ProbePart(_NP2_FOUR, _F.MULTI_SHANK, 80, 127)),
    (("NP2013", "NP2014", "NP2020", "NP2021", "NP3020", "NP3021", "NP3022", "NP3023", "NP3024"),
     ProbePart(_NP2_FOUR, _F.MULTI_SHANK, 100)),
    (("NP2022",), ProbePart(SiteLayout(4, 2, 640, 20, 15, 27, 11, 2141.45), _F.MULTI_SHANK, 100)),
    (("NP2300",), ProbePart(SiteLayout(1, 2, 640, 48, 15, 11, 11), _F.SINGLE_SHANK, 100)),
    (("NP3000",), ProbePart(SiteLayout(1, 1, 128, 0, 15, 59, 59), _F.NP1, None)),
]

#: Probe part number (``imDatPrb_pn``) -> what labdata knows about it.
PROBE_PARTS: dict[str, ProbePart] = {
    part: probe for parts, probe in _PART_GROUPS for part in parts
}

#: imro table type (first header field, ``imDatPrb_type``) -> the part SpikeGLX assumes for it.
_IMRO_TYPE_PARTS: dict[str, str] = {
    "0": "NP1000", "21": "NP2000", "24": "NP2010", "1020": "NP1020", "1030": "NP1030",
    "1100": "NP1100", "1110": "NP1110", "1120": "NP1120", "1121": "NP1121", "1122": "NP1122",
    "1123": "NP1123", "1200": "NP1200", "1300": "NP1300", "2003": "NP2003", "2013": "NP2013",
    "2020": "NP2020", "3010": "NP3010", "3020": "NP3020", "3022": "NP3022",
}

#: Phase 3A on-shank reference channels (SpikeGLX ``IMROTbl_T3A``); option 4 has the first 7.
PHASE3A_REFERENCE_CHANNELS = (36, 75, 112, 151, 188, 227, 264, 303, 340, 379)


def default_part_for_imro_type(imro_type: str) -> str | None:
    """The part number SpikeGLX assumes for an imro type, or the type itself when it is a part.

    Examples
    --------
    >>> default_part_for_imro_type("24"), default_part_for_imro_type("NP2020")
    ('NP2010', 'NP2020')
    """
    if imro_type in PROBE_PARTS:
        return imro_type
    return _IMRO_TYPE_PARTS.get(imro_type)


def reference_channels_for_imro_type(imro_type: str) -> tuple[int, ...]:
    """Readout channels wired to the on-shank reference (never recording), per imro type.

    SpikeGLX marks these not connected in ``snsShankMap``/``snsGeomMap``; this is the rule for
    metas without those maps (LF metas of older versions). It follows the imro type, as SpikeGLX
    does, not the part number: an NP1100 recorded as type 0 keeps channel 191 as reference.
    """
    part = default_part_for_imro_type(imro_type)
    if part is None:
        return ()
    channel = PROBE_PARTS[part].reference_channel
    return () if channel is None else (channel,)
