"""SpikeInterface ground-truth recordings written as SpikeGLX files, to test spike sorting end to end.

:func:`write_ground_truth` simulates ``n_channels`` channels of an NP1.0 probe (the first
channels of its checkerboard, the geometry SpikeGLX's ``.meta`` gives them) with
``spikeinterface.core.generate_ground_truth_recording`` (templates of ``n_units`` units at
random positions near the probe, Poisson trains, Gaussian noise), and writes the traces as
SpikeGLX does: interleaved int16 at the probe's microvolts per bit, the sync word (bit 6: a
1 Hz square wave) in the last column, and a ``.meta`` whose size and SHA-1 verify. The result
holds the ground-truth sorting (spike times in samples of the file), to compare a sorting of
the file with (``spikeinterface.comparison.compare_sorter_to_ground_truth``).

Examples
--------
>>> truth = write_ground_truth(tmp / "gt_g0", duration=60.0, n_channels=32)     # doctest: +SKIP
>>> sorted(p.name for p in truth.files)                                         # doctest: +SKIP
['gt_g0_t0.imec0.ap.bin', 'gt_g0_t0.imec0.ap.meta']
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from labdata.converters.spikeglx.meta import parse_meta
from labdata.converters.spikeglx.synthetic import AP_RATE, IMEC_SYNC_BIT, _imec_meta, _square_wave, _write_stream

if TYPE_CHECKING:
    from spikeinterface.core import BaseRecording, BaseSorting

__all__ = ["GroundTruth", "write_ground_truth"]

#: seconds of samples generated and written at a time
BLOCK_SECONDS = 2.0


@dataclass(frozen=True)
class GroundTruth:
    """The files written and the simulated units (a SpikeInterface sorting, spike times in samples)."""

    files: list[Path]
    sorting: BaseSorting
    duration: float
    n_channels: int


def write_ground_truth(folder: str | Path, *, run: str = "gt", duration: float = 60.0, n_channels: int = 32,
                       n_units: int = 10, seed: int = 0, noise_uv: float = 5.0) -> GroundTruth:
    """Write ``<run>_g0_t0.imec0.ap.bin/.meta`` of a simulated recording into ``folder``.

    Parameters
    ----------
    folder : path
        Created if missing.
    duration : float
        Seconds.
    n_channels : int
        AP channels saved (the probe's channels 0..n-1, two columns 20 um apart in depth).
    n_units : int
        Simulated units.
    seed : int
        Seed of the simulation: the same arguments write the same bytes.
    noise_uv : float
        Standard deviation of the noise, microvolts.
    """
    from spikeinterface.core import generate_ground_truth_recording

    from labdata.converters.spikeinterface import probe_from_channel_map

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta_fields = _imec_meta(run, n_saved=n_channels)
    meta_fields["nSavedChans"] = str(n_channels + 1)
    meta = parse_meta("".join(f"{key}={value}\r\n" for key, value in meta_fields.items()), f"{run}.imec0.ap.meta")
    probe = probe_from_channel_map(np.asarray(meta.channels.coords), np.asarray(meta.channels.shank),
                                   meta.probe_type, meta.probe_part_number)
    recording, sorting = generate_ground_truth_recording(
        durations=[duration], sampling_frequency=AP_RATE, probe=probe, num_units=n_units, seed=seed,
        noise_kwargs=dict(noise_levels=noise_uv, strategy="on_the_fly"))
    uv_per_bit = float(meta.ap_uv_per_bit[0])
    stem = folder / f"{run}_g0_t0.imec0.ap"
    files = _write_stream(stem, _blocks(recording, uv_per_bit), meta_fields, n_channels + 1, AP_RATE)
    return GroundTruth(files, sorting, duration, n_channels)


def _blocks(recording: BaseRecording, uv_per_bit: float) -> Iterator[np.ndarray]:
    """The recording's samples as int16 (``uv_per_bit``) with the sync word appended, block by block."""
    n_total, rate = recording.get_num_samples(), recording.get_sampling_frequency()
    block = int(BLOCK_SECONDS * rate)
    for start in range(0, n_total, block):
        stop = min(start + block, n_total)
        traces = recording.get_traces(start_frame=start, end_frame=stop)
        out = np.empty((stop - start, traces.shape[1] + 1), dtype=np.int16)
        out[:, :-1] = np.clip(np.rint(traces / uv_per_bit), -512, 511)
        out[:, -1] = _square_wave(np.arange(start, stop) / rate) << IMEC_SYNC_BIT
        yield out
