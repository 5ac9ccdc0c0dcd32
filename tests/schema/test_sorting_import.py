"""``SpikeSorting.add_kilosort`` imports the real Kilosort/phy folders of ``../shared/data/kilosort``.

One lake (built once for the module) holds a session with three recorded probes: a Neuropixels 1.0
probe registered from the real SpikeGLX meta of the bombcell toy data (384 channels, 30 kHz; the
sorting used 356 of them), a 32-channel probe at 32 kHz for the neuroconv phy example, and a
16-channel probe at 32 kHz that the 32-channel sorting does not fit. Every folder is imported
once; refused imports (corrupt copies made in tmp_path, a folder that does not fit its probe, a
row the catalog refuses after the files were stored) must leave every involved table, the
upload intents and the analysis storage as they were.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from labdata.catalog import Context, Lake, use
from labdata.catalog.engine.context import DEFAULT_PROJECT
from labdata.core.config import Preferences
from labdata.core.errors import DuplicateError, LabdataError, QueryError, SortingFormatError, ValueTooLongError
from labdata.schema import (
    AnalysisFile,
    Dataset,
    EphysRecording,
    Probe,
    ProbeConfiguration,
    Session,
    SpikeSorting,
    SpikeSortingParams,
    Subject,
    load_project_schema,
)
from labdata.schema.file_objects import pending_uploads
from labdata.stores import md5_of
from shared_data import SHARED_DATA
from templates import copy_sqlite_lake

KILOSORT = SHARED_DATA / "kilosort"
SESSION = dict(subject_name="S1", session_name="20230306_120000")
BOMBCELL = dict(SESSION, dataset_name="bombcell", probe_num=0)
PHY = dict(SESSION, dataset_name="phy", probe_num=0)
SMALL = dict(SESSION, dataset_name="small", probe_num=0)
PHY_GAIN = 0.195
FOLDERS = {"bombcell-toy_data": (BOMBCELL, dict(sampling_rate=30000.0, algorithm_name="kilosort2.5")),
           "neuroconv-gin-phy_example_0": (PHY, dict(algorithm_name="kilosort2.5"))}
TABLES = (SpikeSortingParams, SpikeSorting, SpikeSorting.Unit, SpikeSorting.Waveforms,
          SpikeSorting.IntermediateFiles, AnalysisFile)


def preferences(root: Path) -> Preferences:
    prefs = Preferences({}, path=root / "prefs.json", labdata_path=root / "labdata", environ={})
    prefs.set("local_paths", [str(root / "local")])
    for storage in ("data", "analysis"):
        (root / storage).mkdir(parents=True)
        prefs.set(f"storage.{storage}", {"protocol": "local", "folder": str(root / storage)})
    return prefs


def add_probe(setting: dict, probe_id: str, positions: np.ndarray, rate: float, gain: float) -> None:
    """A probe, its configuration, and a one-probe EphysRecording of ``setting``'s dataset."""
    n = len(positions)
    Probe.insert1(dict(probe_id=probe_id, probe_type="0", probe_n_shanks=1, probe_recording_channels=n))
    ProbeConfiguration.insert1(dict(probe_id=probe_id, configuration_id=1, probe_n_channels=n, probe_gain=gain,
                                    channel_idx=np.arange(n), channel_shank=np.zeros(n, dtype=int),
                                    channel_coords=positions))
    add_recording(setting, dict(probe_id=probe_id, configuration_id=1), rate)


def add_recording(setting: dict, configuration: dict, rate: float) -> None:
    dataset = {k: setting[k] for k in ("subject_name", "session_name", "dataset_name")}
    Dataset.insert1(dict(dataset, dataset_type="ephys"))
    EphysRecording.insert1(dict(dataset, n_probes=1, recording_duration=4500.0, recording_software="spikeglx"),
                           allow_direct_insert=True)
    EphysRecording.ProbeSetting.insert1(dict(setting, **configuration, sampling_rate=rate), allow_direct_insert=True)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """The lake with the three probes, current for the module, and every shared folder imported once."""
    root = tmp_path_factory.mktemp("sorting_import")
    copy_sqlite_lake(root / "lake", "test_project", people=True)
    lake = Lake("sqlite", root / "lake")
    prefs = preferences(root)
    with use(Context(lake, "test_project", prefs)):
        Subject.insert1(dict(subject_name="S1", subject_dob="2023-01-01", subject_sex="M", strain_name="C57BL/6J",
                             user_name="couto"))
        Session.insert1(dict(SESSION, session_datetime="2023-03-06 12:00:00"))
        meta = SHARED_DATA / "spikeglx" / "bombcell" / "toy_data.ap.meta"
        configuration = ProbeConfiguration().add_from_spikeglx_metadata(meta)
        add_recording(BOMBCELL, {k: configuration[k] for k in ("probe_id", "configuration_id")},
                      configuration["sampling_rate"])
        positions = np.load(KILOSORT / "neuroconv-gin-phy_example_0" / "channel_positions.npy")
        add_probe(PHY, "phy32", positions, 32000.0, PHY_GAIN)
        add_probe(SMALL, "small16", positions[:16], 32000.0, PHY_GAIN)
        results = {name: SpikeSorting().add_kilosort(KILOSORT / name, key, progress=False, **options)
                   for name, (key, options) in FOLDERS.items()}
        yield SimpleNamespace(root=root, lake=lake, prefs=prefs, results=results)
    lake.close()


def npy(folder: str, name: str) -> np.ndarray:
    return np.load(KILOSORT / folder / name).reshape(-1) if name != "channel_positions.npy" else \
        np.load(KILOSORT / folder / name)


def sorting_key(lab: SimpleNamespace, folder: str) -> dict:
    return lab.results[folder]["key"]


def counts() -> dict[str, int]:
    """Rows of every table an import writes."""
    return {table.__name__: len(table()) for table in TABLES}


def stored_objects(lab: SimpleNamespace) -> list[str]:
    return sorted(p.relative_to(lab.root / "analysis").as_posix() for p in (lab.root / "analysis").rglob("*")
                  if p.is_file())


@pytest.mark.parametrize("folder", sorted(FOLDERS))
def test_every_shared_folder_imports_with_the_spikes_of_its_files(lab, folder) -> None:
    assert sorted(p.name for p in KILOSORT.iterdir()) == sorted(FOLDERS)  # a new shared folder needs a case here
    key = sorting_key(lab, folder)
    times, clusters = npy(folder, "spike_times.npy"), npy(folder, "spike_clusters.npy")
    row = (SpikeSorting & key).fetch1()
    assert row["n_detected_spikes"] == len(times) == lab.results[folder]["n_spikes"]
    assert row["n_sorted_units"] == len(np.unique(clusters))
    assert np.array_equal(row["sorting_channel_indices"], npy(folder, "channel_map.npy"))
    assert np.array_equal(row["sorting_channel_coords"], npy(folder, "channel_positions.npy"))
    assert row["n_pre_samples"] == 41  # 82-sample templates, the spike 41 samples before the end
    units = (SpikeSorting.Unit & key).fetch(as_dict=True, order_by="unit_id")
    assert [u["unit_id"] for u in units] == np.unique(clusters).tolist()
    for unit in units:
        mine = clusters == unit["unit_id"]
        assert unit["spike_times"].dtype == np.uint64 and np.array_equal(unit["spike_times"], times[mine])
        assert np.all(np.diff(unit["spike_times"].astype(np.int64)) >= 0)
        assert np.allclose(unit["spike_amplitudes"], npy(folder, "amplitudes.npy")[mine].astype(np.float32))
        assert unit["spike_positions"].shape == (mine.sum(), 2) and unit["spike_positions"].dtype == np.float32


def test_parameter_sets_are_found_by_algorithm_and_parameters(lab) -> None:
    numbers = {sorting_key(lab, f)["parameter_set_num"] for f in FOLDERS}
    assert len(numbers) == 1  # the same algorithm and (no) parameters: one set
    assert (SpikeSortingParams & {"parameter_set_num": numbers.pop()}).fetch1(
        "algorithm_name", "parameters_dict") == ("kilosort2.5", "{}")


def test_waveforms_are_unwhitened_templates_times_median_amplitude_in_microvolts(lab) -> None:
    folder = "neuroconv-gin-phy_example_0"
    key = sorting_key(lab, folder)
    unwhitened = np.load(KILOSORT / folder / "templates.npy") @ np.load(KILOSORT / folder / "whitening_mat_inv.npy")
    amplitudes, clusters = npy(folder, "amplitudes.npy"), npy(folder, "spike_clusters.npy")
    reported = dict(np.loadtxt(KILOSORT / folder / "cluster_Amplitude.tsv", skiprows=1))
    positions = npy(folder, "channel_positions.npy")
    for row in (SpikeSorting.Waveforms & key).fetch(as_dict=True):
        unit = row["unit_id"]
        expected = unwhitened[unit] * np.median(amplitudes[clusters == unit]) * PHY_GAIN
        channels = row["waveform_channels"]
        assert row["waveform_median"].dtype == np.float32 and channels.dtype == np.int16
        assert np.allclose(row["waveform_median"], expected[:, channels], rtol=1e-4, atol=1e-3)
        assert np.allclose(row["waveform_ptp"], np.ptp(expected, axis=0), rtol=1e-4, atol=1e-3)
        # Kilosort's own amplitude (cluster_Amplitude.tsv, in file units) is the same product
        assert row["waveform_ptp"].max() / PHY_GAIN == pytest.approx(reported[unit], rel=0.1)
        active = np.flatnonzero(row["waveform_ptp"] >= 0.2 * row["waveform_ptp"].max())
        distance = np.linalg.norm(positions[:, None] - positions[active][None], axis=2).min(axis=1)
        assert channels.tolist() == np.flatnonzero(distance <= 50).tolist()


def test_labels_are_kept_queryable_and_read_back(lab) -> None:
    key = sorting_key(lab, "neuroconv-gin-phy_example_0")
    summary = json.loads((SpikeSorting & key).fetch1("additional_params"))
    group = summary["labels"]["group"]
    assert group["units"] == {"good": [9, 10, 11], "mua": [0, 1, 2, 3, 4, 5, 6, 7, 8, 12]}
    assert group["counts"] == {"good": 3, "mua": 10}
    assert group["file"].endswith("phy/spike_sorting/imec0/1/kilosort2.5/cluster_group.tsv")
    expected = {int(a): b for a, b in np.loadtxt(KILOSORT / "neuroconv-gin-phy_example_0" / "cluster_KSLabel.tsv",
                                                 skiprows=1, dtype=str)}
    assert (SpikeSorting & key).kilosort_labels() == {"group": expected, "KSLabel": expected}
    assert lab.results["neuroconv-gin-phy_example_0"]["labels"] == {"group": expected, "KSLabel": expected}
    assert (SpikeSorting & sorting_key(lab, "bombcell-toy_data")).kilosort_labels() == {}


def test_labels_too_long_for_the_column_are_read_from_the_kept_file(lab, tmp_path) -> None:
    """A phy curation splitting the spikes into 100 clusters, each with a label of its own: no room in 2000
    characters."""
    folder = copy_folder(tmp_path, "neuroconv-gin-phy_example_0")
    clusters = np.arange(788, dtype=np.uint32) % 100
    np.save(folder / "spike_clusters.npy", clusters)
    labels = {c: f"checked_by_couto_{c:03d}" for c in range(100)}
    (folder / "cluster_group.tsv").write_text("cluster_id\tgroup\n" + "".join(f"{c}\t{g}\n" for c, g in labels.items()))
    (folder / "cluster_KSLabel.tsv").unlink()
    result = SpikeSorting().add_kilosort(folder, PHY, algorithm_name="phy", progress=False)
    sorting = SpikeSorting & result["key"]
    assert "units" not in json.loads(sorting.fetch1("additional_params"))["labels"]["group"]
    assert sorting.kilosort_labels() == {"group": labels}
    assert len(SpikeSorting.Unit & result["key"]) == 100


def test_the_folder_is_kept_as_analysis_files_but_raw_data(lab) -> None:
    for folder in FOLDERS:
        key = sorting_key(lab, folder)
        kept = (SpikeSorting.IntermediateFiles & key).fetch("file_path")
        assert sorted(Path(p).name for p in kept) == sorted(p.name for p in (KILOSORT / folder).iterdir())
        for path in kept:
            row = (AnalysisFile & {"file_path": path}).fetch1()
            assert row["file_md5"] == md5_of(KILOSORT / folder / Path(path).name)
            assert md5_of(lab.root / "analysis" / path) == row["file_md5"]
    assert pending_uploads() == []


def copy_folder(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    shutil.copytree(KILOSORT / name, folder)
    for path in folder.iterdir():
        path.chmod(0o644)
    return folder


def truncate_spike_times(folder: Path) -> None:
    data = (folder / "spike_times.npy").read_bytes()
    (folder / "spike_times.npy").write_bytes(data[: len(data) // 2])


def drop_last_amplitude(folder: Path) -> None:
    np.save(folder / "amplitudes.npy", np.load(folder / "amplitudes.npy")[:-1])


def cluster_absent_from_templates(folder: Path) -> None:
    """No spike_templates.npy (so clusters must be templates), and a cluster 99 of 13 templates."""
    clusters = np.load(folder / "spike_clusters.npy")
    clusters[5] = 99
    np.save(folder / "spike_clusters.npy", clusters)
    (folder / "spike_templates.npy").unlink()


def extra_channel(folder: Path) -> None:
    np.save(folder / "channel_map.npy", np.arange(33, dtype=np.int32))


def unsorted_times(folder: Path) -> None:
    times = np.load(folder / "spike_times.npy")
    times[[10, 11]] = times[[11, 10]]
    np.save(folder / "spike_times.npy", times)


def negative_times(folder: Path) -> None:
    np.save(folder / "spike_times.npy", np.load(folder / "spike_times.npy").astype(np.int64) - 1000)


def no_templates(folder: Path) -> None:
    (folder / "templates.npy").unlink()


CORRUPTIONS = {
    "truncated spike_times.npy": (truncate_spike_times, "spike_times.npy", "truncated or corrupt"),
    "lengths disagree": (drop_last_amplitude, "amplitudes.npy", "787 values but spike_times.npy has 788"),
    "cluster absent from templates": (cluster_absent_from_templates, "spike_clusters.npy", "[99] absent"),
    "channel counts disagree": (extra_channel, "channel_map.npy", "templates.npy has 32 channels"),
    "unsorted times": (unsorted_times, "spike_times.npy", "not sorted"),
    "negative times": (negative_times, "spike_times.npy", "negative"),
    "missing templates.npy": (no_templates, "templates.npy", "missing"),
}


def assert_refused(lab: SimpleNamespace, error: type[LabdataError], match: str, run) -> LabdataError:
    """``run()`` raises ``error`` and leaves every table, the intents and the analysis storage as they were."""
    before, objects = counts(), stored_objects(lab)
    with pytest.raises(error, match=re.escape(match)) as raised:
        run()
    assert counts() == before and stored_objects(lab) == objects and pending_uploads() == []
    assert raised.value.hint
    return raised.value


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_a_corrupt_folder_is_refused_and_registers_nothing(lab, tmp_path, corruption) -> None:
    corrupt, file_name, reason = CORRUPTIONS[corruption]
    folder = copy_folder(tmp_path, "neuroconv-gin-phy_example_0")
    corrupt(folder)
    error = assert_refused(lab, SortingFormatError, reason, lambda: SpikeSorting().add_kilosort(
        folder, PHY, algorithm_name="other", progress=False))
    assert str(error).startswith(f"{file_name} in {folder}")


def test_a_sorting_with_more_channels_than_its_probe_is_refused(lab) -> None:
    assert_refused(lab, SortingFormatError, "has 32 channels, and names 16 the probe configuration lacks",
                   lambda: SpikeSorting().add_kilosort(KILOSORT / "neuroconv-gin-phy_example_0", SMALL,
                                                       progress=False))


def test_a_sorting_at_another_sampling_rate_is_refused(lab) -> None:
    assert_refused(lab, SortingFormatError, "32000.0 Hz but the rate given (the recording's) is 30000.0 Hz",
                   lambda: SpikeSorting().add_kilosort(KILOSORT / "neuroconv-gin-phy_example_0", BOMBCELL,
                                                       progress=False))


def test_a_rate_given_for_a_folder_without_params_must_be_the_recordings(lab, tmp_path) -> None:
    assert_refused(lab, SortingFormatError, "is at 32000.0 Hz but the probe", lambda: SpikeSorting().add_kilosort(
        KILOSORT / "bombcell-toy_data", BOMBCELL, sampling_rate=32000.0, progress=False))


def test_a_second_import_of_the_same_sorting_and_an_unknown_probe_are_refused(lab) -> None:
    folder = KILOSORT / "neuroconv-gin-phy_example_0"
    assert_refused(lab, DuplicateError, "exists already", lambda: SpikeSorting().add_kilosort(
        folder, PHY, algorithm_name="kilosort2.5", progress=False))
    assert_refused(lab, QueryError, "No EphysRecording.ProbeSetting", lambda: SpikeSorting().add_kilosort(
        folder, dict(PHY, probe_num=3), progress=False))


def test_a_row_refused_after_the_files_were_stored_leaves_no_file(lab) -> None:
    """The catalog refuses the SpikeSorting row (algorithm_version is varchar(56)) inside the transaction."""
    assert_refused(lab, ValueTooLongError, "algorithm_version", lambda: SpikeSorting().add_kilosort(
        KILOSORT / "neuroconv-gin-phy_example_0", PHY, algorithm_name="new", algorithm_version="v" * 80,
        progress=False))


def test_raw_data_and_hidden_files_are_not_kept(lab, tmp_path) -> None:
    folder = copy_folder(tmp_path, "neuroconv-gin-phy_example_0")
    (folder / "temp_wh.dat").write_bytes(b"\0" * 64)
    (folder / "recording.bin").write_bytes(b"\0" * 64)
    (folder / ".phy").mkdir()
    (folder / ".phy" / "cache").write_bytes(b"x")
    result = SpikeSorting().add_kilosort(folder, PHY, algorithm_name="kept", progress=False)
    kept = sorted(Path(p["file_path"]).name for p in result["files"])
    assert kept == sorted(p.name for p in (KILOSORT / "neuroconv-gin-phy_example_0").iterdir())


def test_the_import_writes_the_project_of_the_table_it_is_called_on(lab, tmp_path) -> None:
    """Called on ``load_project_schema("test_project")``'s SpikeSorting while another project (with its own
    storages) is current: the rows, files and labels are test_project's."""
    other = load_project_schema("test_project", context=Context(lab.lake, DEFAULT_PROJECT, lab.prefs))
    elsewhere = preferences(tmp_path / "elsewhere")
    with use(Context(lab.lake, "another_project", elsewhere)):
        result = other.SpikeSorting().add_kilosort(KILOSORT / "neuroconv-gin-phy_example_0", PHY,
                                                   algorithm_name="bound", progress=False)
        assert len(other.SpikeSorting.Unit & result["key"]) == 13
        assert other.SpikeSorting & result["key"]
        assert (other.SpikeSorting & result["key"]).kilosort_labels()["group"][9] == "good"
    assert all((lab.root / "analysis" / f["file_path"]).is_file() for f in result["files"])
    assert not any((tmp_path / "elsewhere" / "analysis").iterdir())
    assert all(f["file_path"].startswith("test_project/") for f in result["files"])


def test_curated_labels_become_a_manual_unit_count(lab) -> None:
    from labdata.schema import UnitCount, UnitCountCriteria, UnitMetrics

    key = sorting_key(lab, "neuroconv-gin-phy_example_0")
    with pytest.raises(QueryError, match="UnitMetrics"):
        (SpikeSorting & key).count_kilosort_labels("group")
    UnitMetrics.populate(key)
    summary = (SpikeSorting & key).count_kilosort_labels("group")
    criteria = (UnitCountCriteria & {"sua_criteria": "manual_kilosort_group"}).fetch1("unit_criteria_id")
    passes = dict(zip(*(UnitCount.Unit & key & {"unit_criteria_id": criteria}).fetch("unit_id", "passes"),
                      strict=True))
    labels = dict(np.loadtxt(KILOSORT / "neuroconv-gin-phy_example_0" / "cluster_group.tsv", dtype=str,
                             skiprows=1))
    assert passes == {u: 1 if labels[str(u)] == "good" else 0 for u in passes}
    assert (summary["sua"], summary["all"]) == (3, len(passes))
    with pytest.raises(DuplicateError):
        (SpikeSorting & key).count_kilosort_labels("group")
    assert (SpikeSorting & key).count_kilosort_labels("group", replace=True)["sua"] == 3
