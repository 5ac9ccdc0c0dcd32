"""Microvolts per bit of SpikeGLX channels.

A sample ``i`` is ``i * AiRangeMax / MaxInt / gain`` volts (SpikeGLX metadata guide):

* imec: ``imAiRangeMax`` / ``imMaxInt`` (512 when absent: Phase 3A/3B and NP1.0 of versions
  before 2020); the gain per channel from the imro table (NP1.0-type probes), the NP1110 imro
  header, or the probe's fixed gain (NP2.0-type: ``imChan0apGain`` when written, else 80 for
  types 21/24 and 100 for 2003/2013/2020 and later). NP2.0-type probes have one wide band, so
  their LF gain is their AP gain.
* nidq: ``niAiRangeMax`` / ``niMaxInt`` (32768 when absent), gain ``niMNGain`` for MN,
  ``niMAGain`` for MA and 1 for XA channels.
* OneBox: ``obAiRangeMax`` / ``obMaxInt`` (32768 when absent), gain 1.

Examples
--------
>>> fields = MetaFields({"niAiRangeMax": "5", "niMNGain": "200"}, "run.nidq.meta")
>>> analog_uv_per_bit(fields, "nidq", kinds=np.array(["XA", "MN"])).tolist()
[152.587890625, 0.762939453125]
"""

from __future__ import annotations

import numpy as np

from labdata.converters.spikeglx._fields import MetaFields
from labdata.converters.spikeglx.catalogue import ProbePart
from labdata.converters.spikeglx.imro import ImroTable

__all__ = ["analog_uv_per_bit", "imec_uv_per_bit"]

_MICROVOLTS_PER_VOLT = 1e6
_IMEC_DEFAULT_MAX_INT = 512
_DAQ_DEFAULT_MAX_INT = 32768


def imec_uv_per_bit(fields: MetaFields, imro: ImroTable, *,
                    part: ProbePart) -> tuple[np.ndarray, np.ndarray]:
    """AP and LF microvolts per bit of every readout channel of the imro table.

    Raises
    ------
    RecordingFormatError
        ``imAiRangeMax`` is missing, or a gain or ``imMaxInt`` is not positive.
    """
    range_max = fields.number("imAiRangeMax")
    max_int = fields.integer("imMaxInt", default=_IMEC_DEFAULT_MAX_INT)
    _check_positive(fields, "imAiRangeMax", range_max)
    _check_positive(fields, "imMaxInt", max_int)
    ap_gain = imro.ap_gain if imro.ap_gain is not None else _fixed_gain(fields, imro, part)
    lf_gain = imro.lf_gain if imro.lf_gain is not None else ap_gain
    for band, gain in (("AP", ap_gain), ("LF", lf_gain)):
        if np.any(gain <= 0):
            channel = int(np.flatnonzero(gain <= 0)[0])
            raise fields.error("imroTbl", f"gives channel {channel} the {band} gain "
                               f"{gain[channel]:g}")
    scale = _MICROVOLTS_PER_VOLT * range_max / max_int
    return scale / ap_gain, scale / lf_gain


def _fixed_gain(fields: MetaFields, imro: ImroTable, part: ProbePart) -> np.ndarray:
    gain = fields.optional_number("imChan0apGain")
    if gain is None:
        gain = part.fixed_gain
    if gain is None:
        raise fields.error("imChan0apGain", "is missing and the imro table sets no gains")
    return np.full(imro.n_channels, float(gain))


def analog_uv_per_bit(fields: MetaFields, stream: str, *, kinds: np.ndarray) -> np.ndarray:
    """Microvolts per bit of nidq or OneBox analog columns of the given kinds (MN, MA, XA).

    Raises
    ------
    RecordingFormatError
        The range key is missing while analog channels are saved, or a gain is not positive.
    """
    if len(kinds) == 0:
        return np.zeros(0)
    prefix = "ni" if stream == "nidq" else "ob"
    range_max = fields.number(f"{prefix}AiRangeMax")
    max_int = fields.number(f"{prefix}MaxInt", default=_DAQ_DEFAULT_MAX_INT)
    _check_positive(fields, f"{prefix}AiRangeMax", range_max)
    _check_positive(fields, f"{prefix}MaxInt", max_int)
    gains = {"XA": 1.0}
    if stream == "nidq":
        gains["MN"] = fields.number("niMNGain", default=1.0)
        gains["MA"] = fields.number("niMAGain", default=1.0)
    for key in ("niMNGain", "niMAGain"):
        _check_positive(fields, key, gains.get(key[2:4], 1.0))
    gain = np.array([gains[kind] for kind in kinds], dtype=float)
    return _MICROVOLTS_PER_VOLT * range_max / max_int / gain


def _check_positive(fields: MetaFields, key: str, value: float) -> None:
    if not value > 0:
        raise fields.error(key, f"is {value:g}, not a positive number")
