"""Benchmark: UnitMetrics of a lab-sized sorting, vectorised over units, against per-unit loops.

A seeded synthetic sorting (default 300 units x 20,000 spikes over 1 h at 30 kHz, amplitudes,
positions, a median waveform per unit on 13 channels of a 384-channel Neuropixels layout):

* labdata, spike-train metrics: :func:`labdata.metrics.spike_metrics.spike_train_metrics` (one
  concatenated spike array, bincounts and grouped medians), against the same formulas applied
  one unit at a time (numpy per unit, as the original spks functions are called);
* labdata, all 30 columns: :func:`labdata.metrics.unit_metrics.unit_metrics` (footprints and
  waveform shapes included);
* SpikeInterface: ``compute_quality_metrics`` for the spike-train metrics it shares with UnitMetrics
  (num_spikes, firing_rate, presence_ratio, isi_violation, firing_range) on the same spikes, against
  labdata's computation of those alone;
* ``UnitMetrics.populate()`` on an embedded lake holding the sorting: fetch + compute + insert, in
  one make (``--no-lake`` skips it).

Run from the repository root (venv active)::

    python benchmarks/unit_metrics.py [--units 300] [--spikes 20000] [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _table import print_table  # noqa: E402
from labdata.metrics import spike_metrics  # noqa: E402
from labdata.metrics.spike_metrics import SortingSpikes, spike_train_metrics  # noqa: E402
from labdata.metrics.unit_metrics import ProbeChannels, UnitWaveforms, unit_metrics  # noqa: E402

RATE = 30000.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=300)
    parser.add_argument("--spikes", type=int, default=20000, help="spikes per unit")
    parser.add_argument("--duration", type=float, default=3600.0, help="recording duration (s)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (median)")
    parser.add_argument("--quick", action="store_true", help="smoke test: 20 units x 2,000 spikes, 1 repeat")
    parser.add_argument("--no-lake", action="store_true", help="skip UnitMetrics.populate on a lake")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.units, arguments.spikes, arguments.duration, arguments.repeats = 20, 2000, 600.0, 1
    return arguments


def make_sorting(n_units: int, n_spikes: int, duration: float) -> SimpleNamespace:
    """Seeded spike trains (a few refractory violations each), amplitudes, positions and waveforms."""
    rng = np.random.default_rng(0)
    coords = np.column_stack([np.tile([43.0, 11.0, 59.0, 27.0], 96), np.repeat(np.arange(192) * 20.0, 2)])
    ticks = np.arange(90) - 45
    shape = -np.exp(-((ticks / 3) ** 2)) + 0.3 * np.exp(-(((ticks - 12) / 6) ** 2))
    trains, amplitudes, positions, medians, kept = [], [], [], [], []
    for unit in range(n_units):
        train = np.sort(rng.integers(0, int(duration * RATE), n_spikes))
        trains.append(np.sort(np.concatenate([train, train[:unit % 7] + 30])).astype(np.uint64))
        count = trains[-1].size
        peak = (unit * 37) % 384
        amplitudes.append(rng.normal(100, 15, count).astype(np.float32))
        positions.append(np.column_stack([rng.normal(coords[peak, 0], 3, count),
                                          rng.normal(coords[peak, 1], 5, count)]).astype(np.float32))
        channels = np.flatnonzero(np.linalg.norm(coords - coords[peak], axis=1) <= 45)
        decay = np.exp(-np.linalg.norm(coords[channels] - coords[peak], axis=1) / 25)
        medians.append((80 * shape[:, None] * decay[None, :]).astype(np.float32))
        kept.append(channels)
    return SimpleNamespace(trains=trains, amplitudes=amplitudes, positions=positions, medians=medians, kept=kept,
                           coords=coords, duration=duration, units=list(range(n_units)))


def labdata_spike_trains(sorting: SimpleNamespace) -> None:
    spikes = SortingSpikes.from_units(sorting.trains, RATE, sorting.duration, amplitudes=sorting.amplitudes,
                                      positions=sorting.positions)
    spike_train_metrics(spikes)


def labdata_shared_subset(sorting: SimpleNamespace) -> None:
    """The metrics SpikeInterface also computes: counts, rate, ISI violations, presence ratio, firing range."""
    spikes = SortingSpikes.from_units(sorting.trains, RATE, sorting.duration)
    unit, seconds = spikes.unit_of_spike, spikes.seconds
    spike_metrics._firing_rate(spikes, unit, seconds)
    spike_metrics._isi_metrics(spikes, unit)
    spike_metrics._presence_ratio(spikes, unit)
    spike_metrics._firing_range(spikes, unit, seconds)


def labdata_all_columns(sorting: SimpleNamespace) -> None:
    spikes = SortingSpikes.from_units(sorting.trains, RATE, sorting.duration, amplitudes=sorting.amplitudes,
                                      positions=sorting.positions)
    waveforms = UnitWaveforms(sorting.units, sorting.medians, sorting.kept, [None] * len(sorting.units),
                              [2.0] * len(sorting.units), 45)
    unit_metrics(spikes, sorting.units, waveforms, ProbeChannels(sorting.coords, np.zeros(384, int),
                                                                 np.full(384, 4.0)))


def per_unit_spike_trains(sorting: SimpleNamespace) -> None:
    """The same spike-train formulas, one unit at a time (the baseline)."""
    from scipy.ndimage import gaussian_filter1d

    duration = sorting.duration
    for train, amplitudes, positions in zip(sorting.trains, sorting.amplitudes, sorting.positions, strict=True):
        seconds = train / RATE
        n = seconds.size
        isi = np.diff(train.astype(np.int64))
        n_v = np.sum((isi > 6) & (isi <= 45))
        argument = 1 - n_v * (duration - 2 * n * 2e-4) / (n**2 * 1.3e-3)
        _ = (1 - np.sqrt(argument) if argument >= 0 else np.nan, n_v * duration / (2 * n**2 * 1.3e-3))
        density, edges = np.histogram(amplitudes, 500, density=True)
        pdf = gaussian_filter1d(density, 3)
        peak = np.argmax(pdf)
        _ = np.sum(pdf[peak + np.argmin(np.abs(pdf[peak:] - pdf[0])):]) * np.mean(np.diff(edges))
        _ = np.mean(np.histogram(seconds, np.linspace(0, duration, 101))[0] > 1)
        bins = np.digitize(seconds, np.arange(0, duration, 60.0))
        _ = [np.median(positions[bins == i + 1, 1]) for i in range(int(np.ceil(duration / 60)))]
        rates = np.histogram(seconds, np.arange(0, duration + 1e-9, 10.0))[0] / 10
        _ = np.percentile(rates, 95) - np.percentile(rates, 5)
        _ = np.median(amplitudes[seconds >= 0.8 * duration]) / np.median(amplitudes[seconds < 0.2 * duration])


def spikeinterface_quality(sorting: SimpleNamespace) -> Callable[[], None]:
    """SpikeInterface's analyzer on the same spikes (a lazy noise recording: these metrics read no traces)."""
    import spikeinterface.core as si
    from spikeinterface.metrics import compute_quality_metrics

    si.set_global_job_kwargs(n_jobs=1, progress_bar=False)
    labels = np.repeat(np.arange(len(sorting.trains)), [t.size for t in sorting.trains])
    numpy_sorting = si.NumpySorting.from_samples_and_labels([np.concatenate(sorting.trains).astype(np.int64)],
                                                            [labels], RATE)
    recording = si.generate_recording(num_channels=2, sampling_frequency=RATE, durations=[sorting.duration],
                                      set_probe=True)
    analyzer = si.create_sorting_analyzer(numpy_sorting, recording, sparse=False, format="memory")

    def run() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compute_quality_metrics(analyzer, metric_names=["num_spikes", "firing_rate", "presence_ratio",
                                                            "isi_violation", "firing_range"],
                                    metric_params={"firing_range": {"bin_size_s": 10}})
    return run


def median_time(work: Callable[[], None], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def populate_on_a_lake(sorting: SimpleNamespace) -> dict[str, float]:
    """Insert the sorting into an embedded lake, then time UnitMetrics.populate() (one make)."""
    from labdata.catalog import Context, Lake, use
    from labdata.schema import (
        Dataset,
        EphysRecording,
        LabMember,
        Probe,
        ProbeConfiguration,
        Session,
        Species,
        SpikeSorting,
        SpikeSortingParams,
        Strain,
        Subject,
        UnitMetrics,
    )

    key = dict(subject_name="S", session_name="20240101_120000", dataset_name="ephys_g0")
    sorting_key = dict(key, probe_num=0, parameter_set_num=1)
    with tempfile.TemporaryDirectory() as folder:
        lake = Lake("sqlite", Path(folder) / "lake")
        try:
            with use(Context(lake, "bench")):
                LabMember.insert1(dict(user_name="u", date_joined="2020-01-01"))
                Species.insert1(dict(species_name="mouse", species_scientific_name="Mus musculus"))
                Strain.insert1(dict(strain_name="B6", species_name="mouse"))
                Subject.insert1(dict(subject_name="S", subject_dob="2023-01-01", subject_sex="M", strain_name="B6",
                                     user_name="u"))
                Session.insert1(dict(subject_name="S", session_name=key["session_name"],
                                     session_datetime="2024-01-01 12:00:00"))
                Dataset.insert1(dict(key, dataset_type="ephys"))
                Probe.insert1(dict(probe_id="1", probe_type="0", probe_n_shanks=1, probe_recording_channels=384))
                ProbeConfiguration.insert1(dict(probe_id="1", configuration_id=1, probe_n_channels=384,
                                                probe_gain=2.34375, channel_idx=np.arange(384),
                                                channel_shank=np.zeros(384, int), channel_coords=sorting.coords))
                EphysRecording.insert1(dict(key, n_probes=1, recording_duration=sorting.duration,
                                            recording_software="spikeglx"), allow_direct_insert=True)
                EphysRecording.ProbeSetting.insert1(dict(key, probe_num=0, probe_id="1", configuration_id=1,
                                                         sampling_rate=RATE), allow_direct_insert=True)
                SpikeSortingParams.insert1(dict(parameter_set_num=1, algorithm_name="bench", parameters_dict="{}"))
                SpikeSorting.insert1(dict(sorting_key, n_pre_samples=45))
                start = time.perf_counter()
                SpikeSorting.Unit.insert([dict(sorting_key, unit_id=u, spike_times=t, spike_amplitudes=a,
                                               spike_positions=p) for u, t, a, p in
                                          zip(sorting.units, sorting.trains, sorting.amplitudes, sorting.positions,
                                              strict=True)])
                SpikeSorting.Waveforms.insert([dict(sorting_key, unit_id=u, waveform_median=m,
                                                    waveform_channels=k.astype(np.int16), waveform_noise=2.0)
                                               for u, m, k in zip(sorting.units, sorting.medians, sorting.kept,
                                                                  strict=True)])
                inserted = time.perf_counter()
                (SpikeSorting.Unit & sorting_key).fetch("spike_times", "spike_amplitudes", "spike_positions")
                fetched = time.perf_counter()
                UnitMetrics.populate()
                done = time.perf_counter()
                assert len(UnitMetrics()) == len(sorting.units)
        finally:
            lake.close()
    return {"insert the units": inserted - start, "fetch the spikes (alone)": fetched - inserted,
            "UnitMetrics.populate() (fetch + compute + insert)": done - fetched}


def main() -> None:
    arguments = parse_args()
    print(f"building {arguments.units} units x {arguments.spikes} spikes ...", file=sys.stderr)
    sorting = make_sorting(arguments.units, arguments.spikes, arguments.duration)
    n_spikes = sum(t.size for t in sorting.trains)
    ours = median_time(lambda: labdata_spike_trains(sorting), arguments.repeats)
    shared = median_time(lambda: labdata_shared_subset(sorting), arguments.repeats)
    everything = median_time(lambda: labdata_all_columns(sorting), arguments.repeats)
    loop = median_time(lambda: per_unit_spike_trains(sorting), arguments.repeats)
    spikeinterface = median_time(spikeinterface_quality(sorting), arguments.repeats)
    title = (f"UnitMetrics of {arguments.units} units, {n_spikes:,} spikes, {arguments.duration:.0f} s "
             f"(median of {arguments.repeats})")
    rows = [["spike-train metrics (12 columns)", f"{ours:.2f}", f"{loop:.2f} (per-unit loop)", f"{loop / ours:.1f}"],
            ["the 5 metrics SpikeInterface shares (7 columns)", f"{shared:.2f}",
             f"{spikeinterface:.2f} (SpikeInterface)", f"{spikeinterface / shared:.1f}"],
            ["all 30 columns (footprints, waveform shapes)", f"{everything:.2f}", "", ""]]
    print_table(title, ["what", "labdata s", "baseline s", "baseline / labdata"], rows)
    if not arguments.no_lake:
        timings = populate_on_a_lake(sorting)
        print_table("On an embedded lake (SQLite catalog)", ["step", "s"],
                    [[name, f"{seconds:.2f}"] for name, seconds in timings.items()])


if __name__ == "__main__":
    main()
