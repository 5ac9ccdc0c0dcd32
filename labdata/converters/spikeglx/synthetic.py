"""Synthetic SpikeGLX recordings: an NP1.0 probe and an NI-DAQ with a shared sync line.

The demo, the tests and ``benchmarks/ephys_ingest.py`` need recordings of any length
that look like what SpikeGLX writes: the same file names, ``.meta`` keys and
interleaved int16 layout, with ``fileSizeBytes`` and ``fileSHA1`` that verify. The
signal is band-limited noise per channel (an AR(1) process, ~4 bits rms like the
real NP Ultra stub), a common-mode component, spikes of a few hundred units spread
over neighbouring channels, and on the last saved channel the sync word (bit 6
carries a 1 Hz square wave).

The probe's clock can run fast by ``drift_ppm``: the imec stream then holds
``30000 * (1 + drift_ppm * 1e-6)`` samples per second of true time while its meta
says 30000, which is what :class:`~labdata.schema.StreamSync` corrects against the
NI-DAQ (bit 0 of its digital word carries the same square wave; bit 1 carries
"trial" pulses).

Examples
--------
>>> files = write_recording(tmp / "demo_g0", duration=2.0)          # doctest: +SKIP
>>> sorted(p.name for p in files)                                     # doctest: +SKIP
['demo_g0_t0.imec0.ap.bin', 'demo_g0_t0.imec0.ap.meta', 'demo_g0_t0.nidq.bin', 'demo_g0_t0.nidq.meta']
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["SyntheticRecording", "write_recording"]

AP_RATE = 30000.0
NI_RATE = 25000.0
N_CHANNELS = 384
AP_GAIN = 500
IMEC_SYNC_BIT = 6
NI_SYNC_LINE, NI_TRIAL_LINE = 0, 1


@dataclass(frozen=True)
class SyntheticRecording:
    """What was written: the files, the true times of the trial pulses (seconds of the NI clock), and
    the ground truth of the simulated units: per unit, the AP samples where its spikes start."""

    files: list[Path]
    trial_onsets: np.ndarray
    duration: float
    drift_ppm: float
    spike_trains: dict[int, np.ndarray] = field(default_factory=dict)
    unit_channels: dict[int, int] = field(default_factory=dict)


def write_recording(folder: str | Path, *, run: str = "demo", duration: float = 2.0, drift_ppm: float = 20.0,
                    seed: int = 0, with_nidq: bool = True) -> SyntheticRecording:
    """Write ``<run>_g0_t0.imec0.ap.bin/.meta`` (and ``.nidq.bin/.meta``) into ``folder``.

    Parameters
    ----------
    folder : path
        Created if missing (SpikeGLX's run folder, e.g. ``demo_g0``).
    duration : float
        Seconds of true time.
    drift_ppm : float
        How fast the probe's clock runs against the NI-DAQ's, in parts per million.
    seed : int
        Seed of the random signal: the same arguments write the same bytes.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    trials = np.sort(rng.uniform(0.2, max(duration - 0.3, 0.3), size=max(int(duration / 2), 1)))
    stem = folder / f"{run}_g0_t0"
    ap_rate = AP_RATE * (1 + drift_ppm * 1e-6)
    onsets: dict[int, list[np.ndarray]] = {}
    units = _units(rng)
    files = _write_stream(stem.with_name(stem.name + ".imec0.ap"), _ap_blocks(rng, duration, ap_rate, units, onsets),
                          _imec_meta(run), N_CHANNELS + 1, AP_RATE)
    if with_nidq:
        files += _write_stream(stem.with_name(stem.name + ".nidq"), _ni_blocks(duration, trials),
                               _nidq_meta(run), 1, NI_RATE)
    trains = {u: np.sort(np.concatenate(parts)).astype(np.uint64) for u, parts in onsets.items()}
    return SyntheticRecording(files, trials, duration, drift_ppm, trains, {u: units[u][0] for u in trains})


def _write_stream(stem: Path, blocks, meta: dict[str, str], n_saved: int, rate: float) -> list[Path]:  # noqa: ANN001
    binary, digest, size = stem.with_suffix(stem.suffix + ".bin"), hashlib.sha1(), 0
    with open(binary, "wb") as writer:
        for block in blocks:
            data = np.ascontiguousarray(block, dtype="<i2").tobytes()
            writer.write(data)
            digest.update(data)
            size += len(data)
    meta = {**meta, "nSavedChans": str(n_saved), "fileSizeBytes": str(size),
            "fileSHA1": digest.hexdigest().upper(), "fileTimeSecs": repr(size / 2 / n_saved / rate),
            "fileName": binary.name}
    text = "".join(f"{key}={value}\r\n" for key, value in sorted(meta.items(), key=_meta_order))
    meta_path = stem.with_suffix(stem.suffix + ".meta")
    meta_path.write_bytes(text.encode())
    return [binary, meta_path]


def _meta_order(item: tuple[str, str]) -> tuple[bool, str]:
    return item[0].startswith("~"), item[0]


def _square_wave(times: np.ndarray) -> np.ndarray:
    """1 during the first half of every second of true time."""
    return (np.mod(times, 1.0) < 0.5).astype(np.int16)


def _ap_blocks(rng: np.random.Generator, duration: float, rate: float, units, onsets,  # noqa: ANN001, ANN202
               block_seconds: float = 1.0):
    from scipy.signal import lfilter

    n_total, block = round(duration * rate), int(rate * block_seconds)
    noise_state, common_state = np.zeros((1, N_CHANNELS)), np.zeros(1)
    for start in range(0, n_total, block):
        n = min(block, n_total - start)
        white = rng.standard_normal((n, N_CHANNELS)) * 3.5
        noise, noise_state = lfilter([1.0], [1.0, -0.5], white, axis=0, zi=noise_state)
        common, common_state = lfilter([1.0], [1.0, -0.9], rng.standard_normal(n) * 0.45, zi=common_state)
        signal = noise + common[:, None]
        for unit, starts in enumerate(_add_spikes(rng, signal, units, rate)):
            onsets.setdefault(unit, []).append(starts + start)
        out = np.empty((n, N_CHANNELS + 1), dtype=np.int16)
        out[:, :N_CHANNELS] = np.clip(np.rint(signal), -512, 511)
        out[:, N_CHANNELS] = _square_wave((start + np.arange(n)) / rate) << IMEC_SYNC_BIT
        yield out


def _units(rng: np.random.Generator, n_units: int = 150) -> list[tuple[int, float, np.ndarray]]:
    """(first channel, firing rate in Hz, template samples x 8 channels) per unit."""
    t = np.arange(40)
    shape = -np.exp(-((t - 12) / 3.0) ** 2) + 0.35 * np.exp(-((t - 22) / 6.0) ** 2)
    units = []
    for _ in range(n_units):
        peak = rng.uniform(15, 60)
        spread = np.exp(-np.abs(np.arange(8) - 3.5) / 2.0)
        units.append((int(rng.integers(0, N_CHANNELS - 8)), float(rng.uniform(1, 15)),
                      peak * shape[:, None] * spread[None, :]))
    return units


def _add_spikes(rng: np.random.Generator, signal: np.ndarray, units, rate: float) -> list[np.ndarray]:  # noqa: ANN001
    """Add each unit's spikes to the block; return each unit's spike onsets (samples of the block)."""
    n, onsets = signal.shape[0], []
    for channel, firing, template in units:
        starts = rng.integers(0, max(n - template.shape[0], 1), size=rng.poisson(firing * n / rate))
        for onset in starts:
            signal[onset:onset + template.shape[0], channel:channel + template.shape[1]] += template
        onsets.append(np.sort(starts))
    return onsets


def _ni_blocks(duration: float, trials: np.ndarray, block_seconds: float = 1.0):  # noqa: ANN202
    n_total, block = round(duration * NI_RATE), int(NI_RATE * block_seconds)
    for start in range(0, n_total, block):
        times = (start + np.arange(min(block, n_total - start))) / NI_RATE
        trial = np.zeros(times.shape, dtype=np.int16)
        for onset in trials:
            trial[(times >= onset) & (times < onset + 0.1)] = 1
        yield ((_square_wave(times) << NI_SYNC_LINE) | (trial << NI_TRIAL_LINE))[:, None]


def _created(run: str) -> dict[str, str]:
    return {"appVersion": "20230815", "fileCreateTime": dt.datetime(2024, 5, 1, 12, 0, 0).isoformat(),
            "gateMode": "Immediate", "trigMode": "Immediate", "typeImEnabled": "1", "typeNiEnabled": "1",
            "typeObEnabled": "0", "userNotes": f"labdata synthetic recording {run}", "firstSample": "0",
            "syncSourcePeriod": "1", "syncSourceIdx": "0"}


def _imec_meta(run: str, n_saved: int = N_CHANNELS) -> dict[str, str]:
    """The ``.meta`` of an NP1.0 probe saving AP channels ``0..n_saved-1`` and the sync word."""
    imro = "(0,384)" + "".join(f"({c} 0 0 {AP_GAIN} 250 1)" for c in range(N_CHANNELS))
    chan_map = ("(384,384,1)" + "".join(f"(AP{c};{c}:{c})" for c in range(n_saved))
                + f"(SY0;{n_saved}:{n_saved})")
    shank_map = "(1,2,480)" + "".join(f"(0:{c % 2}:{c // 2}:1)" for c in range(n_saved))
    subset = f"0:{n_saved - 1},{2 * N_CHANNELS}"
    return {**_created(run), "typeThis": "imec", "imSampRate": f"{AP_RATE:g}", "imAiRangeMax": "0.6",
            "imAiRangeMin": "-0.6", "imMaxInt": "512", "imDatPrb_type": "0", "imDatPrb_pn": "PRB_1_4_0480_1",
            "imDatPrb_sn": "18194809999", "imDatPrb_port": "1", "imDatPrb_slot": "2", "imDatPrb_dock": "1",
            "acqApLfSy": "384,384,1", "snsApLfSy": f"{n_saved},0,1", "snsSaveChanSubset": subset,
            "syncImInputSlot": "2", "~imroTbl": imro, "~snsChanMap": chan_map, "~snsShankMap": shank_map}


def _nidq_meta(run: str) -> dict[str, str]:
    return {**_created(run), "typeThis": "nidq", "niSampRate": f"{NI_RATE:g}", "niAiRangeMax": "5",
            "niAiRangeMin": "-5", "niMaxInt": "32768", "niMNGain": "200", "niMAGain": "1", "niMNChans1": "",
            "niMAChans1": "", "niXAChans1": "", "niXDChans1": "0:7", "niXDBytes1": "1", "niDev1": "PXI1Slot3",
            "niDev1ProductName": "PXIe-6341", "acqMnMaXaDw": "0,0,0,1", "snsMnMaXaDw": "0,0,0,1",
            "snsSaveChanSubset": "all", "syncNiChan": "0", "syncNiChanType": "0",
            "~snsChanMap": "(0,0,0,0,1)(XD0;0:0)", "~snsShankMap": "(1,2,0)"}
