"""UnitMetrics' formulas (labdata.metrics, reference §1.11) against SpikeInterface's quality metrics.

Two inputs: (a) a SpikeInterface ground-truth recording (180 s, 16 channels, 10 units, seeded;
180 s so that the 60 s drift bins give the 3 bins §1.11 needs), with refractory-period
violations added to the spike trains; (b) the real Kilosort outputs in ../shared/data/kilosort
(bombcell's 15-unit, 4476 s sorting of a Neuropixels recording, and neuroconv's 13-unit 10 s
test sorting). Both sides get the same arrays. Each test prints a table (metric, max |difference|,
tolerance) and asserts every row.

Where §1.11 differs from SpikeInterface on purpose the comparison says so and runs
SpikeInterface's own function with §1.11's parameters, or its formula with §1.11's count:

* presence ratio: §1.11 takes 100 bins over the recording and counts bins with more than one
  spike; SpikeInterface's default is 60 s bins with at least one spike.
* ISI violations: §1.11 counts intervals with 0.2 ms < ISI ≤ 1.5 ms; SpikeInterface counts every
  ISI < 1.5 ms (``min_isi`` only enters its rate). Its ``isi_violations_ratio`` is Hill's formula,
  our ``isi_contamination_hill`` is the same formula on our count. ``isi_contamination`` is
  Llobet's formula, SpikeInterface's ``rp_contamination`` (which counts all spike pairs within the
  refractory period, and needs numba, not installed here); it gives 1.0 where the square root's
  argument is negative, §1.11 gives NULL.
* amplitude cutoff: §1.11 uses the Allen/ecephys estimator (density histogram, bin closest to the
  first bin's density after the peak, area above it); SpikeInterface's version uses another cutoff
  bin and normalisation, so the comparison is with a one-unit-at-a-time transcription of ecephys.
* drift: SpikeInterface's ``drift_ptp`` (60 s intervals, ≥ 6 spikes) is our ``depth_drift_range``;
  fluctuation and start-to-end have no SpikeInterface metric and are compared with a per-unit
  transcription of the spks formulas, as is ``amplitude_drift``.
* ``amplitude_median`` is not a UnitMetrics column (``spike_amplitude`` is the ptp of the median
  waveform, compared with SpikeInterface's template peak-to-peak on the main channel).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import spikeinterface.core as si
from scipy.ndimage import gaussian_filter1d
from spikeinterface.core.template_tools import get_template_amplitude_on_main_channel
from spikeinterface.metrics import compute_quality_metrics
from spikeinterface.metrics.quality.misc_metrics import (
    _compute_rp_contamination_one_unit,
    isi_violations,
    presence_ratio,
)

from labdata.metrics.footprint import neighbour_graph
from labdata.metrics.unit_metrics import ProbeChannels, SortingSpikes, UnitWaveforms, unit_metrics
from labdata.metrics.waveform_metrics import waveform_shape_metrics
from shared_data import SHARED_DATA

T_R, T_C = 1.5e-3, 0.2e-3
SPIKE_TRAIN_METRICS = ["num_spikes", "firing_rate", "presence_ratio", "isi_violation", "firing_range"]
MAD_OF_NORMAL = 0.6744897501960817  # SpikeInterface's noise level = MAD / this


@dataclass
class Case:
    """One sorting, as both sides see it."""

    name: str
    unit_ids: np.ndarray
    trains: list[np.ndarray]  # samples per unit
    sampling_rate: float
    duration: float
    amplitudes: list[np.ndarray]
    quality: pd.DataFrame  # SpikeInterface's compute_quality_metrics
    ours: pd.DataFrame  # labdata.metrics.unit_metrics, indexed by unit id


def _quality(analyzer: si.SortingAnalyzer, names: list[str], **params: dict) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SpikeInterface warns about units with few spikes
        return compute_quality_metrics(analyzer, metric_names=names, metric_params=params or None)


def _ours(case_trains: list[np.ndarray], unit_ids: np.ndarray, rate: float, duration: float, **kwargs) -> pd.DataFrame:
    waveforms, channels = kwargs.pop("waveforms", None), kwargs.pop("channels", None)
    spikes = SortingSpikes.from_units(case_trains, rate, duration, **kwargs)
    return pd.DataFrame(unit_metrics(spikes, unit_ids, waveforms, channels)).set_index("unit_id")


@pytest.fixture(scope="module", autouse=True)
def _quiet_spikeinterface() -> None:
    si.set_global_job_kwargs(n_jobs=1, progress_bar=False, chunk_duration="10s")


@pytest.fixture(scope="module")
def ground_truth(_quiet_spikeinterface) -> tuple[Case, si.SortingAnalyzer]:
    """SpikeInterface's ground truth, plus 1 ms doublets (violations) and 0.1 ms doublets (censored)."""
    recording, truth = si.generate_ground_truth_recording(durations=[180.0], sampling_frequency=30000.0,
                                                          num_channels=16, num_units=10, seed=2205)
    rng = np.random.default_rng(7)
    trains = []
    for index, unit in enumerate(truth.unit_ids):
        train = truth.get_unit_spike_train(unit)
        doublets = [rng.choice(train[:-1], 3 * index, replace=False) + 30,  # 1 ms: violations
                    rng.choice(train[:-1], index, replace=False) + 3]  # 0.1 ms: censored
        trains.append(np.unique(np.concatenate([train, *doublets])))
    sorting = si.NumpySorting.from_unit_dict(dict(zip(truth.unit_ids, trains, strict=True)), 30000.0)
    analyzer = si.create_sorting_analyzer(sorting, recording, sparse=False, format="memory")
    analyzer.compute({"random_spikes": {"max_spikes_per_unit": 200, "seed": 0}, "templates": {},
                      "noise_levels": {"random_slices_kwargs": {"seed": 0}}, "spike_amplitudes": {},
                      "spike_locations": {"method": "center_of_mass"}})  # seeded: the same templates every run
    quality = _quality(analyzer, [*SPIKE_TRAIN_METRICS, "drift", "snr"], firing_range={"bin_size_s": 10},
                       drift={"interval_s": 60, "min_spikes_per_interval": 6}, snr={"method": "peak_to_peak"})
    amplitudes = analyzer.get_extension("spike_amplitudes").get_data(outputs="by_unit")[0]
    locations = analyzer.get_extension("spike_locations").get_data(outputs="by_unit")[0]
    templates = analyzer.get_extension("templates")
    mad = analyzer.get_extension("noise_levels").get_data() * MAD_OF_NORMAL
    ids = np.asarray(truth.unit_ids)
    waveforms = UnitWaveforms(range(len(ids)), list(templates.get_data()), [None] * len(ids), [None] * len(ids),
                              [np.nan] * len(ids), templates.nbefore)
    channels = ProbeChannels(recording.get_channel_locations(), np.zeros(16, int), mad)
    positive = [-amplitudes[u].astype(np.float64) for u in ids]  # SpikeInterface gives the (negative) trough
    ours = _ours(trains, ids, 30000.0, 180.0, amplitudes=positive,
                 positions=[np.column_stack([locations[u]["x"], locations[u]["y"]]) for u in ids],
                 waveforms=waveforms, channels=channels)
    case = Case("ground truth", ids, trains, 30000.0, 180.0, positive, quality, ours)
    return case, analyzer


def _kilosort_case(folder: str, rate: float, duration: float) -> Case:
    path = SHARED_DATA / "kilosort" / folder
    samples = np.load(path / "spike_times.npy").ravel().astype(np.int64)
    clusters = np.load(path / "spike_clusters.npy").ravel().astype(np.int64)
    amplitudes = np.load(path / "amplitudes.npy").ravel()
    ids = np.unique(clusters)
    trains = [samples[clusters == u] for u in ids]
    sorting = si.NumpySorting.from_samples_and_labels([samples], [clusters], rate)
    recording = si.generate_recording(num_channels=2, sampling_frequency=rate, durations=[duration], set_probe=True)
    analyzer = si.create_sorting_analyzer(sorting, recording, sparse=False, format="memory")
    quality = _quality(analyzer, SPIKE_TRAIN_METRICS, firing_range={"bin_size_s": 10})
    unit_amplitudes = [amplitudes[clusters == u] for u in ids]
    ours = _ours(trains, ids, rate, duration, amplitudes=unit_amplitudes)
    return Case(folder, ids, trains, rate, duration, unit_amplitudes, quality, ours)


@pytest.fixture(scope="module", params=[("bombcell-toy_data", 30000.0, 4475.95),  # fileTimeSecs of its .ap.meta
                                        ("neuroconv-gin-phy_example_0", 32000.0, 10.0)],  # params.py; 320,000 samples
                ids=["bombcell", "phy_example_0"])
def kilosort(request, _quiet_spikeinterface) -> Case:
    return _kilosort_case(*request.param)


# ---- references: SpikeInterface's functions with §1.11's parameters, and per-unit transcriptions ------------------
def _si_isi_count(train: np.ndarray, case: Case, threshold_s: float) -> int:
    """SpikeInterface's count of ISIs < threshold; half a sample up, so that ISI ≤ threshold counts (integer ISIs)."""
    return int(isi_violations([train / case.sampling_rate], case.duration, threshold_s + 0.5 / case.sampling_rate)[2])


def _si_count_in_window(train: np.ndarray, case: Case) -> int:
    """§1.11's count, t_c < ISI ≤ t_r, from two SpikeInterface counts."""
    return _si_isi_count(train, case, T_R) - _si_isi_count(train, case, T_C)


def _si_hill(train: np.ndarray, case: Case) -> float:
    """SpikeInterface's isi_violations_ratio (Hill), rescaled from its count (every ISI < t_r) to §1.11's."""
    ratio, _, count = isi_violations([train / case.sampling_rate], case.duration, T_R, T_C)
    return 0.0 if count == 0 else ratio * _si_count_in_window(train, case) / count


def _si_llobet(train: np.ndarray, case: Case) -> float:
    """SpikeInterface's rp_contamination formula on §1.11's count; its 1.0 (negative root argument) is our NULL."""
    rate = case.sampling_rate
    value = _compute_rp_contamination_one_unit(_si_count_in_window(train, case), len(train), case.duration * rate,
                                               T_C * rate, T_R * rate)
    return np.nan if value == 1.0 else value


def _si_presence(train: np.ndarray, case: Case) -> float:
    """SpikeInterface's presence_ratio with §1.11's 100 bins over the recording and > 1 spike per bin."""
    return presence_ratio(train, bin_edges=np.linspace(0, case.duration * case.sampling_rate, 101),
                          bin_n_spikes_thres=1)


def _ecephys_amplitude_cutoff(amplitudes: np.ndarray) -> float:
    """The Allen/ecephys estimator, one unit at a time."""
    density, edges = np.histogram(amplitudes, 500, density=True)
    pdf = gaussian_filter1d(density, 3)
    peak = int(np.argmax(pdf))
    cutoff = peak + int(np.argmin(np.abs(pdf[peak:] - pdf[0])))
    return min(float(np.sum(pdf[cutoff:]) * np.mean(np.diff(edges))), 0.5)


def _spks_depth_drift(seconds: np.ndarray, depths: np.ndarray, duration: float) -> tuple[float, float, float]:
    """Range, fluctuation, start-to-end of the per-minute median depth, one unit at a time."""
    edges = np.arange(0, duration, 60.0)
    bins = np.digitize(seconds, edges)
    medians = np.array([np.median(depths[bins == i + 1]) if np.sum(bins == i + 1) > 5 else np.nan
                        for i in range(len(edges))])
    first = int(np.sum(edges < 0.2 * duration))
    start_to_end = np.nanmedian(medians[len(edges) - first:]) - np.nanmedian(medians[:first])
    valid = medians[np.isfinite(medians)]
    if len(valid) < 3:
        return np.nan, np.nan, np.nan
    return valid.max() - valid.min(), float(np.mean(np.abs(np.diff(valid)))), start_to_end


def _amplitude_drift(seconds: np.ndarray, amplitudes: np.ndarray, duration: float) -> float:
    return np.median(amplitudes[seconds >= 0.8 * duration]) / np.median(amplitudes[seconds < 0.2 * duration])


# ---- the table ----------------------------------------------------------------------------------------------------
def _difference(ours: pd.Series, reference: np.ndarray | pd.Series, *, relative: bool = False) -> float:
    ours_values = pd.to_numeric(ours, errors="coerce").to_numpy(dtype=float)
    reference = np.asarray(reference, dtype=float)
    assert np.array_equal(np.isnan(ours_values), np.isnan(reference)), f"NULLs differ: {ours_values} vs {reference}"
    both = ~np.isnan(reference)
    if not both.any():
        return 0.0
    difference = np.abs(ours_values[both] - reference[both])
    return float(np.max(difference / np.abs(reference[both]) if relative else difference))


def _check(case: Case, rows: list[tuple[str, float, float]]) -> None:
    print(f"\n{case.name}: {len(case.unit_ids)} units, {sum(len(t) for t in case.trains)} spikes")
    print(f"{'metric':58s} {'max |diff|':>12s} {'tolerance':>10s}")
    for name, difference, tolerance in rows:
        print(f"{name:58s} {difference:12.3g} {tolerance:10.3g}")
    failed = [name for name, difference, tolerance in rows if not difference <= tolerance]
    assert not failed, f"{case.name}: {failed} differ from SpikeInterface beyond tolerance"


def _per_unit(case: Case, reference: Callable[[np.ndarray, Case], float], gate: int = 50) -> np.ndarray:
    """A reference value per unit, NaN where §1.11 leaves the metric NULL (not more than ``gate`` spikes)."""
    return np.array([reference(t, case) if len(t) > gate else np.nan for t in case.trains])


def _spike_train_rows(case: Case) -> list[tuple[str, float, float]]:
    ours, quality = case.ours, case.quality
    enough = np.array([len(t) > 50 for t in case.trains])
    return [
        ("num_spikes", _difference(ours.num_spikes, quality.num_spikes), 0),
        ("firing_rate (Hz)", _difference(ours.firing_rate, np.where([len(t) > 5 for t in case.trains],
                                                                     quality.firing_rate, np.nan)), 1e-9),
        ("n_isi_violations (SI counts, t_c < ISI ≤ t_r)", _difference(ours.n_isi_violations,
                                                                     _per_unit(case, _si_count_in_window)), 0),
        ("isi_contamination_hill (SI isi_violations_ratio)", _difference(ours.isi_contamination_hill,
                                                                         _per_unit(case, _si_hill)), 1e-12),
        ("isi_contamination (SI rp_contamination formula)", _difference(ours.isi_contamination,
                                                                        _per_unit(case, _si_llobet)), 1e-12),
        ("presence_ratio (SI presence_ratio, 100 bins, > 1 spike)", _difference(ours.presence_ratio,
                                                                                _per_unit(case, _si_presence)), 0),
        ("firing_range (SI firing_range, 10 s bins)", _difference(ours.firing_range,
                                                                  np.where(enough, quality.firing_range, np.nan)),
         1e-9),
        ("amplitude_cutoff (ecephys estimator, per unit)", _difference(ours.amplitude_cutoff, [
            _ecephys_amplitude_cutoff(a) if n else np.nan for a, n in zip(case.amplitudes, enough, strict=True)]),
         1e-9),
        ("amplitude_drift (no SI metric; per unit)", _difference(ours.amplitude_drift, [
            _amplitude_drift(t / case.sampling_rate, a, case.duration) if n else np.nan
            for t, a, n in zip(case.trains, case.amplitudes, enough, strict=True)]), 1e-9),
    ]


def test_spike_train_metrics_match_spikeinterface_on_ground_truth(ground_truth) -> None:
    case, _ = ground_truth
    assert case.ours.n_isi_violations.tolist() == [3 * i for i in range(10)], "the doublets added at +1 ms"
    censored = case.quality.isi_violations_count.to_numpy() - case.ours.n_isi_violations.to_numpy()
    assert censored.tolist() == list(range(10)), "SpikeInterface also counts the 0.1 ms doublets, which §1.11 censors"
    _check(case, _spike_train_rows(case))


def test_drift_snr_and_amplitude_match_spikeinterface_on_ground_truth(ground_truth) -> None:
    case, analyzer = ground_truth
    locations = analyzer.get_extension("spike_locations").get_data(outputs="by_unit")[0]
    drift = np.array([_spks_depth_drift(t / case.sampling_rate, locations[u]["y"].astype(np.float64), case.duration)
                      for u, t in zip(case.unit_ids, case.trains, strict=True)])
    amplitude = get_template_amplitude_on_main_channel(analyzer, peak_mode="peak_to_peak", with_dict=False)
    main = analyzer.get_main_channels(outputs="index", with_dict=False)
    assert case.ours.channel_index.tolist() == list(main), "the peak channel is SpikeInterface's main channel"
    _check(case, [
        ("depth_drift_range (SI drift_ptp, 60 s, ≥ 6 spikes) µm", _difference(case.ours.depth_drift_range,
                                                                           case.quality.drift_ptp), 1e-4),
        ("depth_drift_fluctuation (no SI metric; per unit) µm", _difference(case.ours.depth_drift_fluctuation,
                                                                          drift[:, 1]), 1e-9),
        ("depth_drift_start_to_end (no SI metric; per unit) µm", _difference(case.ours.depth_drift_start_to_end,
                                                                           drift[:, 2]), 1e-9),
        ("spike_amplitude (SI template ptp on main channel) µV", _difference(case.ours.spike_amplitude, amplitude),
         1e-4),
        ("snr (SI snr, peak_to_peak; MAD/0.6745 vs MAD/0.67449) rel.", _difference(case.ours.snr, case.quality.snr,
                                                                                   relative=True), 1e-4),
    ])


def test_waveform_columns_are_filled_for_every_unit_with_a_waveform(ground_truth) -> None:
    case, _ = ground_truth
    assert case.ours.notna().all().all(), case.ours.isna().sum()[case.ours.isna().sum() > 0]
    assert (case.ours.polarity == -1).all() and (case.ours.spike_duration > 0).all()
    assert all(len(a) == n for a, n in zip(case.ours.active_electrodes, case.ours.n_electrodes_spanned, strict=True))


def test_spike_train_metrics_match_spikeinterface_on_kilosort_outputs(kilosort) -> None:
    rows = _spike_train_rows(kilosort)
    _check(kilosort, rows)
    sparse = [len(t) <= 50 for t in kilosort.trains]
    if any(sparse):  # phy_example_0: units of 50 spikes or fewer get NULL for everything but the counts and rate
        assert kilosort.ours.loc[np.array(sparse), "presence_ratio"].isna().all()
    assert kilosort.ours.isi_contamination_hill.notna().sum() == sum(not s for s in sparse)


def test_shape_metrics_of_a_known_waveform_and_its_mirror() -> None:
    rate, n_pre = 30000.0, 45
    milliseconds = (np.arange(90) - n_pre) / rate * 1000
    waveform = -100 * np.exp(-((milliseconds / 0.1) ** 2)) + 40 * np.exp(-(((milliseconds - 0.5) / 0.2) ** 2))
    metrics = waveform_shape_metrics(np.stack([waveform, -waveform]), n_pre, rate)
    assert metrics["polarity"].tolist() == [-1, 1]
    assert np.allclose(metrics["trough_time"], 0.0, atol=1e-3)
    assert np.allclose(metrics["trough_amplitude"], [-100, 100], atol=0.5)
    assert np.allclose(metrics["fw3m"], 2 * 0.1 * np.sqrt(np.log(1.5)), atol=5e-3), "Gaussian width at 2/3 depth"
    assert np.allclose(metrics["peak_time"], 0.5, atol=0.01) and np.allclose(metrics["spike_duration"], 0.5, atol=0.01)
    assert np.allclose(metrics["peak_amplitude"], [40, -40], atol=0.5)
    assert np.allclose(metrics["spike_amplitude"], np.ptp(waveform))
    assert metrics["trough_gradient"][0] > 0 > metrics["peak_gradient"][0], "rising after the trough, falling later"


def test_neighbour_graph_keeps_short_delaunay_edges_only() -> None:
    grid = np.column_stack([np.tile([0.0, 32.0], 10), np.repeat(np.arange(10) * 20.0, 2)])
    coords = np.vstack([grid, [[1000.0, 0.0]]])  # a stray channel far from the shank
    graph = neighbour_graph(coords)
    assert (graph == graph.T).all() and not graph.diagonal().any()
    rows, columns = np.nonzero(graph)
    assert np.linalg.norm(coords[rows] - coords[columns], axis=1).max() <= 3 * 20.0
    assert not graph[-1].any(), "the stray channel has only long Delaunay edges"
    assert graph[0, 1] and graph[0, 2], "horizontal and vertical neighbours"
    line = neighbour_graph(np.column_stack([np.zeros(5), np.arange(5) * 20.0]))
    assert np.array_equal(np.nonzero(line)[0], [0, 1, 1, 2, 2, 3, 3, 4]), "channels on a line: consecutive ones"
