"""Median waveforms cut from a raw recording (block by block) recover the units' templates."""

from __future__ import annotations

import numpy as np

from labdata.converters.raw_waveforms import median_waveforms


def test_medians_recover_templates_across_block_boundaries() -> None:
    rng = np.random.default_rng(0)
    n_samples, n_channels, gain = 600_000, 8, 2.5          # more than two read blocks of 2**18 samples
    data = rng.normal(0, 3, (n_samples, n_channels))
    positions = np.column_stack([np.zeros(n_channels), np.arange(n_channels) * 20.0])
    shape = -np.exp(-((np.arange(90) - 30) / 4.0) ** 2) * 60
    trains = []
    for channel in (1, 5):
        times = np.sort(rng.choice(np.arange(100, n_samples - 100), 400, replace=False))
        for t in times:
            data[t - 30:t + 60, channel] += shape
        trains.append(times)
    recording = np.round(data).astype(np.int16)
    reads: list[tuple[int, int]] = []

    def read(start: int, stop: int) -> np.ndarray:
        reads.append((start, stop))
        return recording[start:stop]

    waveforms = median_waveforms(read, n_samples, trains, channel_positions=positions, gain=gain, n_pre=30,
                                 n_post=60, max_spikes=200)
    assert len(reads) >= 3 and max(stop - start for start, stop in reads) < n_samples, "read block by block"
    for waveform, channel in zip(waveforms, (1, 5), strict=True):
        assert channel in waveform.channels.tolist() and len(waveform.channels) <= 5  # active ±50 µm
        column = waveform.channels.tolist().index(channel)
        assert np.abs(waveform.median[:, column] - shape * gain).max() < 6 * gain
        assert np.argmax(waveform.ptp) == channel and waveform.ptp.shape == (n_channels,)
        assert 0 < waveform.noise < 3 * gain
