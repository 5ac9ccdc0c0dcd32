"""``read_kilosort`` on the real Kilosort/phy folders of ``../shared/data/kilosort`` and on broken copies of them.

The spikes must be those of the ``.npy`` files; positions follow phy's formula (pc_features) or the
template centres; waveforms are the unwhitened templates times the median amplitude; every broken
copy is refused with a :class:`SortingFormatError` naming the file and the reason.
"""

from __future__ import annotations

import doctest
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from labdata.converters.kilosort import checks, files, positions, read_kilosort, waveforms
from labdata.converters.kilosort.files import parse_labels, parse_params
from labdata.core.errors import SortingFormatError
from shared_data import SHARED_DATA

KILOSORT = SHARED_DATA / "kilosort"
PHY = KILOSORT / "neuroconv-gin-phy_example_0"
BOMBCELL = KILOSORT / "bombcell-toy_data"
RATES = {"bombcell-toy_data": 30000.0, "neuroconv-gin-phy_example_0": None}  # bombcell has no params.py


def vector(folder: Path, name: str) -> np.ndarray:
    return np.load(folder / name).reshape(-1)


def copy_of(tmp_path: Path, source: Path) -> Path:
    folder = tmp_path / source.name
    shutil.copytree(source, folder)
    for path in folder.iterdir():
        path.chmod(0o644)
    return folder


@pytest.fixture(scope="module")
def sortings():
    return {name: read_kilosort(KILOSORT / name, sampling_rate=rate, gain=2.0) for name, rate in RATES.items()}


@pytest.mark.parametrize("name", sorted(RATES))
def test_the_spikes_are_those_of_the_files(sortings, name) -> None:
    assert sorted(p.name for p in KILOSORT.iterdir()) == sorted(RATES)
    sorting, folder = sortings[name], KILOSORT / name
    times, clusters = vector(folder, "spike_times.npy"), vector(folder, "spike_clusters.npy")
    assert sorting.n_spikes == len(times) and np.array_equal(sorting.spike_times, times)
    assert sorting.spike_times.dtype == np.uint64 and sorting.amplitudes.dtype == np.float32
    assert np.array_equal(sorting.unit_ids, np.unique(clusters))
    assert np.array_equal(sorting.channel_map, vector(folder, "channel_map.npy"))
    units = list(sorting.units())
    assert [u.unit_id for u in units] == np.unique(clusters).tolist()
    for unit in units:
        mine = clusters == unit.unit_id
        assert np.array_equal(unit.spike_times, times[mine])
        assert np.all(unit.spike_times[1:] >= unit.spike_times[:-1])
        assert np.array_equal(unit.amplitudes, vector(folder, "amplitudes.npy")[mine].astype(np.float32))
        assert np.array_equal(unit.positions, sorting.spike_positions[mine])


def test_what_each_folder_says(sortings) -> None:
    phy, bombcell = sortings["neuroconv-gin-phy_example_0"], sortings["bombcell-toy_data"]
    assert (phy.sampling_rate, phy.n_channels, phy.n_units, phy.n_pre_samples) == (32000.0, 32, 13, 41)
    assert (bombcell.sampling_rate, bombcell.n_channels, bombcell.n_units) == (30000.0, 356, 15)
    assert phy.params["n_channels_dat"] == 32 and bombcell.params == {}
    expected = {c: "good" if c in (9, 10, 11) else "mua" for c in range(13)}
    assert phy.group_labels == expected == phy.kilosort_labels  # cluster_group.tsv's header says KSLabel
    assert bombcell.group_labels == {} == bombcell.kilosort_labels
    assert (phy.position_source, bombcell.position_source) == ("pc_features", "templates")


def test_positions_from_pc_features_follow_phy(sortings) -> None:
    """phylib's TemplateModel.get_depths, for x and y: first-PC features clipped at 0, squared, as weights."""
    features, feature_ind = np.load(PHY / "pc_features.npy"), np.load(PHY / "pc_feature_ind.npy")
    templates, channels = vector(PHY, "spike_templates.npy"), np.load(PHY / "channel_positions.npy")
    expected = []
    for spike, template in enumerate(templates):
        weights = np.maximum(features[spike, 0], 0).astype(np.float64) ** 2
        expected.append(weights @ channels[feature_ind[template]] / weights.sum())
    assert np.allclose(sortings["neuroconv-gin-phy_example_0"].spike_positions, expected, atol=1e-3)


def test_positions_without_pc_features_are_template_centres(sortings) -> None:
    unwhitened = np.load(BOMBCELL / "templates.npy") @ np.load(BOMBCELL / "whitening_mat_inv.npy")
    channels = np.load(BOMBCELL / "channel_positions.npy")
    centres = []
    for template in unwhitened:
        ptp = np.ptp(template, axis=0)
        footprint = ptp >= 0.2 * ptp.max()
        centres.append(ptp[footprint] @ channels[footprint] / ptp[footprint].sum())
    expected = np.array(centres)[vector(BOMBCELL, "spike_templates.npy")]
    assert np.allclose(sortings["bombcell-toy_data"].spike_positions, expected, atol=1e-3)


@pytest.mark.parametrize("name", sorted(RATES))
def test_waveforms_are_unwhitened_templates_times_the_median_amplitude(sortings, name) -> None:
    folder, sorting = KILOSORT / name, sortings[name]
    unwhitened = np.load(folder / "templates.npy") @ np.load(folder / "whitening_mat_inv.npy")
    amplitudes, clusters = vector(folder, "amplitudes.npy"), vector(folder, "spike_clusters.npy")
    assert sorting.waveform_units == "uV"
    for unit, waveform in zip(sorting.unit_ids, sorting.waveforms, strict=True):
        expected = unwhitened[unit] * np.median(amplitudes[clusters == unit]) * 2.0
        assert np.allclose(waveform.median, expected[:, waveform.channels], rtol=1e-4, atol=1e-3)
        assert np.allclose(waveform.ptp, np.ptp(expected, axis=0), rtol=1e-4, atol=1e-3)
        assert waveform.ptp.argmax() in waveform.channels


def test_a_phy_merge_gets_the_weighted_mean_of_its_templates(tmp_path, sortings) -> None:
    folder = copy_of(tmp_path, PHY)
    clusters = vector(folder, "spike_clusters.npy")
    merged = np.where(np.isin(clusters, (9, 10)), 13, clusters).astype(np.uint32)
    np.save(folder / "spike_clusters.npy", merged)
    sorting = read_kilosort(folder, gain=2.0)
    assert sorting.unit_ids.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13]
    unwhitened = np.load(folder / "templates.npy") @ np.load(folder / "whitening_mat_inv.npy")
    n9, n10 = (clusters == 9).sum(), (clusters == 10).sum()
    expected = ((n9 * unwhitened[9] + n10 * unwhitened[10]) / (n9 + n10)
                * np.median(vector(folder, "amplitudes.npy")[merged == 13]) * 2.0)
    waveform = sorting.waveforms[-1]
    assert np.allclose(waveform.median, expected[:, waveform.channels], rtol=1e-4, atol=1e-3)
    unit = list(sorting.units())[-1]
    assert np.array_equal(unit.spike_times, vector(folder, "spike_times.npy")[merged == 13])
    assert np.array_equal(sorting.spike_positions, sortings["neuroconv-gin-phy_example_0"].spike_positions)


def test_without_whitening_mat_inv_the_whitening_matrix_is_inverted(tmp_path, sortings) -> None:
    folder = copy_of(tmp_path, PHY)
    (folder / "whitening_mat_inv.npy").unlink()
    sorting = read_kilosort(folder, gain=2.0)
    for mine, reference in zip(sorting.waveforms, sortings["neuroconv-gin-phy_example_0"].waveforms, strict=True):
        assert np.allclose(mine.median, reference.median, rtol=1e-5)


def test_without_a_gain_waveforms_stay_in_file_units(sortings) -> None:
    sorting = read_kilosort(PHY)
    assert sorting.waveform_units == "file units"
    assert np.allclose(sorting.waveforms[0].ptp * 2.0, sortings["neuroconv-gin-phy_example_0"].waveforms[0].ptp)


def test_params_py_is_parsed_not_run() -> None:
    assert parse_params("sample_rate = 3e4\nhp_filtered = True\ndtype = 'int16'\n") == dict(
        sample_rate=30000.0, hp_filtered=True, dtype="int16")
    for text, reason in (("import os\n", "line 1 is not a `name = value`"),
                         ("sample_rate = float('3e4')\n", "not a literal"),
                         ("sample_rate = \n", "not valid Python")):
        with pytest.raises(SortingFormatError, match=re.escape(reason)):
            parse_params(text)


def test_label_tables_with_either_header_are_read_and_bad_lines_refused() -> None:
    assert parse_labels("cluster_id\tgroup\r\n3\tnoise\r\n4\tgood\r\n", "cluster_group.tsv") == {3: "noise", 4: "good"}
    assert parse_labels("cluster_id\tKSLabel\n0\tmua\n", "cluster_group.tsv") == {0: "mua"}
    with pytest.raises(SortingFormatError, match="line 2"):
        parse_labels("cluster_id\tgroup\nthree\tgood\n", "cluster_group.tsv")
    with pytest.raises(SortingFormatError, match="first column is not cluster_id"):
        parse_labels("id\tgroup\n3\tgood\n", "cluster_group.tsv")


def save(name: str, change: Callable[[np.ndarray], np.ndarray]) -> Callable[[Path], None]:
    """A corruption replacing ``name`` with ``change`` of its array."""
    return lambda folder: np.save(folder / name, change(np.load(folder / name)))


def write(name: str, data: bytes) -> Callable[[Path], None]:
    return lambda folder: (folder / name).write_bytes(data)


def remove(*names: str) -> Callable[[Path], None]:
    return lambda folder: [(folder / name).unlink() for name in names]


BROKEN = {
    "truncated spike_times.npy": (lambda f: write("spike_times.npy", (f / "spike_times.npy").read_bytes()[:300])(f),
                                  "spike_times.npy", "truncated or corrupt"),
    "truncated templates.npy": (lambda f: write("templates.npy", (f / "templates.npy").read_bytes()[:-8])(f),
                                "templates.npy", "truncated or corrupt"),
    "not an npy": (write("amplitudes.npy", b"not numpy"), "amplitudes.npy", "truncated or corrupt"),
    "pickled objects": (save("amplitudes.npy", lambda a: a.astype(object)), "amplitudes.npy", "truncated or corrupt"),
    "short spike_clusters.npy": (save("spike_clusters.npy", lambda a: a[:-3]), "spike_clusters.npy",
                                 "785 values but spike_times.npy has 788"),
    "short spike_templates.npy": (save("spike_templates.npy", lambda a: a[1:]), "spike_templates.npy",
                                  "787 values"),
    "template absent": (save("spike_templates.npy", lambda a: np.where(a == 3, 20, a)), "spike_templates.npy",
                        "names templates [20] absent from templates.npy, which has 13 templates"),
    "float times": (save("spike_times.npy", lambda a: a.astype(np.float64)), "spike_times.npy", "not sample numbers"),
    "negative cluster": (save("spike_clusters.npy", lambda a: a.astype(np.int64) - 1), "spike_clusters.npy",
                         "negative cluster id"),
    "whitening of another probe": (save("whitening_mat_inv.npy", lambda a: a[:16, :16]), "whitening_mat_inv.npy",
                                   "shape (16, 16) but templates.npy has 32 channels"),
    "positions of another probe": (save("channel_positions.npy", lambda a: a[:-1]), "channel_positions.npy",
                                   "shape (31, 2)"),
    "2-d spike times": (save("spike_times.npy", lambda a: np.hstack([a, a])), "spike_times.npy", "shape (788, 2)"),
    "pc_features of other spikes": (save("pc_features.npy", lambda a: a[:-1]), "pc_features.npy", "not 788 spikes"),
    "pc_feature_ind out of range": (save("pc_feature_ind.npy", lambda a: a + 40), "pc_feature_ind.npy",
                                    "outside 0 to 31"),
    "channel beyond the dat file": (write("params.py", b"n_channels_dat = 16\nsample_rate = 32000.\n"),
                                    "channel_map.npy", "params.py says the sorted file has 16 channels"),
    "no cluster files": (remove("spike_clusters.npy", "spike_templates.npy"), "spike_clusters.npy", "missing"),
    "no whitening": (remove("whitening_mat_inv.npy", "whitening_mat.npy"), "whitening_mat_inv.npy", "missing"),
    "no rate": (remove("params.py"), "params.py", "gives no sample_rate"),
    "rate not a number": (write("params.py", b"sample_rate = 'fast'\n"), "params.py", "is not a number"),
    "NaN amplitude": (save("amplitudes.npy", lambda a: np.where(np.arange(len(a))[:, None] == 7, np.nan, a)),
                      "amplitudes.npy", "not finite"),
    "bad label line": (write("cluster_group.tsv", b"cluster_id\tgroup\n3\n"), "cluster_group.tsv",
                       "line 2 ('3') is not"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_folder_is_refused_naming_the_file(tmp_path, case) -> None:
    corrupt, name, reason = BROKEN[case]
    folder = copy_of(tmp_path, PHY)
    corrupt(folder)
    with pytest.raises(SortingFormatError, match=re.escape(reason)) as raised:
        read_kilosort(folder)
    assert name in str(raised.value).split(":")[0] and raised.value.hint


def test_a_channel_map_the_probe_lacks_is_refused() -> None:
    read_kilosort(BOMBCELL, sampling_rate=30000.0, probe_channels=np.setdiff1d(np.arange(384), [191]))
    with pytest.raises(SortingFormatError, match=re.escape("names 1 the probe configuration lacks (it has 383 "
                                                           "channels), e.g. [100]")):
        read_kilosort(BOMBCELL, sampling_rate=30000.0, probe_channels=np.setdiff1d(np.arange(384), [100]))
    with pytest.raises(SortingFormatError, match="has 32 channels"):
        read_kilosort(PHY, probe_channels=np.arange(16))


def test_a_rate_that_disagrees_with_params_py_is_refused() -> None:
    assert read_kilosort(PHY, sampling_rate=32000.5).sampling_rate == 32000.0  # within 0.1 %: params.py's
    reason = "says sample_rate = 32000.0 Hz but the rate given (the recording's) is 30000.0 Hz"
    with pytest.raises(SortingFormatError, match=re.escape(reason)):
        read_kilosort(PHY, sampling_rate=30000.0)


def test_a_missing_folder_is_refused(tmp_path) -> None:
    with pytest.raises(SortingFormatError, match="is not a folder"):
        read_kilosort(tmp_path / "nothing")


@pytest.mark.parametrize("module", [files, checks, positions, waveforms])
def test_the_examples_in_the_docstrings_run(module) -> None:
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted and not result.failed
