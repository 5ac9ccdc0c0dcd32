"""Every Python example of the seeds' user guide (reference §9, numbered as there), on fixture rows.

Examples whose method belongs to a later issue (fetch_synced,
plot_synced, add_nidq_events, File.get) run their query part, and say so. The unit
metrics and unit counts are computed by ``UnitMetrics.populate()`` and
``UnitCount.populate()`` from the fixture's spikes and waveforms, as a sorting job
leaves them. Every test asserts the rows, keys, values and dtypes it gets.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from labdata.catalog import Context, Lake, use
from labdata.core.errors import AccessDeniedError
from labdata.schema import (
    Dataset,
    DatasetEvents,
    DecisionTask,
    EphysRecording,
    File,
    LabMember,
    Probe,
    ProbeConfiguration,
    Session,
    Species,
    SpikeSorting,
    SpikeSortingParams,
    Strain,
    StreamSync,
    Subject,
    UnitCount,
    UnitCountCriteria,
    UnitMetrics,
    load_project_schema,
)

SUBJECT_SESSIONS = [f"202401{day:02d}_100000" for day in range(1, 13)]
RNG = np.random.default_rng(0)


def _session_rows() -> list[dict]:
    rows = [dict(subject_name="SUBJECT", session_name=s, session_datetime=dt.datetime(2024, 1, i + 1, 10),
                 experimenter="couto") for i, s in enumerate(SUBJECT_SESSIONS)]
    rows += [dict(subject_name="JC178", session_name=f"2024020{i}_090000",
                  session_datetime=dt.datetime(2024, 2, i, 9), experimenter="couto") for i in (1, 2, 3)]
    rows += [dict(subject_name="JC179", session_name=f"2024030{i}_090000",
                  session_datetime=dt.datetime(2024, 3, i, 9), experimenter="other") for i in (1, 2)]
    return rows


def _dataset_rows(sessions: list[dict]) -> list[dict]:
    rows = []
    for s in sessions:
        key = {k: s[k] for k in ("subject_name", "session_name")}
        if s["subject_name"] == "SUBJECT":
            rows += [key | dict(dataset_name="DATANAME", dataset_type="ephys"),
                     key | dict(dataset_name="behavior", dataset_type="task-training")]
        elif s["subject_name"] == "JC178":
            rows += [key | dict(dataset_name="ephys_g0", dataset_type="ephys"),
                     key | dict(dataset_name="task", dataset_type="task-training")]
        else:
            rows.append(key | dict(dataset_name="task", dataset_type="task-training"))
    return rows


def _fill_people_and_sessions() -> list[dict]:
    LabMember.insert([dict(user_name="couto", date_joined="2019-09-01"),
                      dict(user_name="other", date_joined="2020-01-01")])
    Species.insert1(dict(species_name="mouse", species_scientific_name="Mus musculus"))
    Strain.insert1(dict(strain_name="C57BL/6J", species_name="mouse"))
    Subject.insert([dict(subject_name=n, subject_dob="2023-06-01", subject_sex=sex, strain_name="C57BL/6J",
                         user_name=user) for n, sex, user in
                    (("SUBJECT", "M", "couto"), ("JC178", "F", "couto"), ("JC179", "M", "other"))])
    sessions = _session_rows()
    Session.insert(sessions)
    datasets = _dataset_rows(sessions)
    Dataset.insert(datasets)
    return datasets


def _fill_ephys(datasets: list[dict]) -> None:
    coords = np.column_stack([np.tile([16.0, 48.0], 192), np.repeat(np.arange(192) * 20.0, 2)])
    Probe.insert1(dict(probe_id="18005116482", probe_type="0", probe_n_shanks=1, probe_recording_channels=384))
    ProbeConfiguration.insert1(dict(probe_id="18005116482", configuration_id=1, probe_n_channels=384,
                                    probe_gain=2.34375, channel_idx=np.arange(384),
                                    channel_shank=np.repeat(np.arange(4), 96), channel_coords=coords))
    ephys = [{k: d[k] for k in ("subject_name", "session_name", "dataset_name")} for d in datasets
             if d["dataset_type"] == "ephys"]
    EphysRecording.insert([d | dict(n_probes=1, recording_duration=600.0 + i, recording_software="spikeglx")
                           for i, d in enumerate(ephys)], allow_direct_insert=True)
    EphysRecording.ProbeSetting.insert([d | dict(probe_num=0, probe_id="18005116482", configuration_id=1,
                                                 sampling_rate=30000.0) for d in ephys], allow_direct_insert=True)
    SpikeSortingParams.insert([dict(parameter_set_num=n, algorithm_name=a, parameters_dict="{}")
                               for n, a in ((1, "spks_kilosort2.5"), (5, "si_kilosort4"))])
    SpikeSorting.insert([d | dict(probe_num=0, parameter_set_num=5 if d["subject_name"] == "SUBJECT" else 1,
                                  n_pre_samples=45) for d in ephys])
    selected = dict(subject_name="SUBJECT", session_name=SUBJECT_SESSIONS[10], dataset_name="DATANAME",
                    probe_num=0, parameter_set_num=5)
    _fill_units(selected)


TEMPLATE = np.round(64 * (-0.75 * np.exp(-((np.arange(90) - 45) / 4) ** 2)
                          + 0.25 * np.exp(-((np.arange(90) - 57) / 6) ** 2))) / 64
"""The median waveform's shape: trough -0.75 at the spike, peak 0.25 0.4 ms later (ptp 1, in 1/64 steps)."""


def _spike_train(n_spikes: int, n_violations: int) -> np.ndarray:
    """``n_spikes`` spike samples before 595 s, ``n_violations`` of them 1 ms after another, others >= 3 ms apart."""
    gaps = RNG.uniform(0.003, 2.3, n_spikes - n_violations)
    seconds = np.cumsum(gaps) * min(1.0, 595 / gaps.sum())
    samples = np.round(seconds * 30000).astype(np.int64)
    doubled = RNG.choice(samples[:-1], n_violations, replace=False) + 30
    return np.sort(np.concatenate([samples, doubled])).astype(np.uint64)


def _fill_units(sorting: dict) -> None:
    """20 units; units 5-19 have u - 4 refractory violations; all but units 0, 5, 10, 15 have a stored waveform,
    of peak-to-peak 40 + 5u µV on a channel of shank u % 4. UnitMetrics are computed from these arrays."""
    units, waveforms = [], []
    for unit in range(20):
        times = _spike_train(500 + unit, max(0, unit - 4))
        peak = 96 * (unit % 4) + 40 + 2 * (unit // 4)
        units.append(sorting | dict(unit_id=unit, spike_times=times,
                                    spike_amplitudes=RNG.normal(100, 10, times.size).astype(np.float32),
                                    spike_positions=np.column_stack([
                                        RNG.normal(32, 2, times.size), RNG.normal(20.0 * (peak // 2), 2, times.size)
                                    ]).astype(np.float32)))
        channels = np.arange(peak - 4, peak + 5)
        scale = (40.0 + 5 * unit) / 2.0 ** np.abs(channels - peak)
        median = (TEMPLATE[:, None] * scale[None, :]).astype(np.float32)
        if unit % 5:
            ptp = np.zeros(384, np.float32)
            ptp[channels] = median.max(axis=0) - median.min(axis=0)
            waveforms.append(sorting | dict(unit_id=unit, waveform_median=median, waveform_ptp=ptp,
                                            waveform_channels=channels.astype(np.int16), waveform_noise=1.0))
    SpikeSorting.Unit.insert(units)
    SpikeSorting.Waveforms.insert(waveforms)
    SpikeSorting.Segment.insert1(sorting | dict(segment_num=1, offset_samples=0, segment=np.zeros((8, 384), np.int16),
                                                channel_mad=np.full(384, 3.0)))
    UnitMetrics.populate()  # as the end of a sorting job does (reference §1.11, "Populate triggers")
    UnitCountCriteria.insert1(dict(unit_criteria_id=2, sua_criteria="isi_contamination < 0.1"))
    UnitCount.populate()


def _fill_events_files_and_tasks(datasets: list[dict]) -> None:
    selected = dict(subject_name="SUBJECT", session_name=SUBJECT_SESSIONS[10], dataset_name="DATANAME")
    DatasetEvents.insert([selected | dict(stream_name=s) for s in ("nidq", "imec0")], allow_direct_insert=True)
    DatasetEvents.Digital.insert([
        selected | dict(stream_name="nidq", event_name="1", event_timestamps=np.arange(10.0),
                        event_values=np.tile([1, 0], 5)),
        selected | dict(stream_name="nidq", event_name="7", event_timestamps=np.arange(5.0), event_values=np.ones(5)),
        selected | dict(stream_name="imec0", event_name="6", event_timestamps=np.arange(5.0) * 30000,
                        event_values=np.ones(5)),
    ], allow_direct_insert=True)
    behaviour = dict(subject_name="SUBJECT", session_name=SUBJECT_SESSIONS[10], dataset_name="behavior")
    paths = [f"SUBJECT/{SUBJECT_SESSIONS[10]}/behavior/{name}" for name in ("orientation_log.csv", "video.avi")]
    File.insert([dict(file_path=p, file_datetime="2024-01-11 10:00:00", file_size=1000.0) for p in paths])
    Dataset.DataFiles.insert([behaviour | dict(file_path=p, storage="data") for p in paths])
    tasks = [{k: d[k] for k in ("subject_name", "session_name", "dataset_name")} for d in datasets
             if d["dataset_type"] == "task-training" and d["subject_name"] != "JC179"]
    DecisionTask.insert([t | dict(n_total_trials=200, n_total_performed=50 + 20 * i) for i, t in enumerate(tasks)],
                        allow_direct_insert=True)
    DecisionTask.TrialSet.insert([t | dict(trialset_description=d, n_trials=100, n_performed=90, n_with_choice=80,
                                           n_correct=60, performance_easy=0.5 + 0.01 * i, trial_num=np.arange(100))
                                  for i, t in enumerate(tasks) for d in ("visual", "auditory")],
                                 allow_direct_insert=True)


@pytest.fixture(scope="module")
def seed_lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Context]:
    lake = Lake("sqlite", tmp_path_factory.mktemp("seeds") / "lake")
    context = Context(lake, "seeds")
    with use(context):
        datasets = _fill_people_and_sessions()
        _fill_ephys(datasets)
        _fill_events_files_and_tasks(datasets)
    yield context
    lake.close()


@pytest.fixture(scope="module")
def seed_server(seed_lake: Context) -> Iterator[tuple[int, str]]:
    """The seed lake served by a facade; alice is a member of project seeds only (remote mode)."""
    from labdata.server import Facade, FacadeServer, add_account

    password = add_account(seed_lake.lake, "alice", ("seeds",))
    with use(Context(seed_lake.lake, "rats")):  # a project alice may not read
        Subject.insert1(dict(subject_name="SUBJECT", subject_dob="2023-01-01", subject_sex="M",
                             strain_name="C57BL/6J", user_name="couto"))
        Session.insert1(dict(subject_name="SUBJECT", session_name="rat_session", session_datetime="2024-05-01"))
    facade = Facade(seed_lake.lake)
    server = FacadeServer(facade, port=0).start()
    yield server.port, password
    server.stop()
    facade.close()


@pytest.fixture(params=["local", "remote"])
def seeds(request: pytest.FixtureRequest, seed_lake: Context) -> Iterator[Context]:
    """The seed lake, opened as a file (local) or through the facade as alice (remote mode)."""
    if request.param == "local":
        with use(seed_lake):
            yield seed_lake
        return
    from labdata.catalog.engine.remote import RemoteAddress, RemoteLake

    port, password = request.getfixturevalue("seed_server")
    lake = RemoteLake(RemoteAddress("127.0.0.1", port, "alice", password), root=seed_lake.lake.root)
    with use(Context(lake, "seeds")) as context:
        yield context
    lake.close()


def test_a_remote_user_is_refused_another_project(seed_lake: Context, seed_server: tuple[int, str]) -> None:
    from labdata.catalog.engine.remote import RemoteAddress, RemoteLake

    port, password = seed_server
    lake = RemoteLake(RemoteAddress("127.0.0.1", port, "alice", password), root=seed_lake.lake.root)
    with use(Context(lake, "rats")), pytest.raises(AccessDeniedError, match="denied"):
        Session.fetch()
    with use(Context(lake, "rats")), pytest.raises(AccessDeniedError, match="denied"):
        Session.insert1(dict(subject_name="SUBJECT", session_name="sneaked", session_datetime="2024-05-02"))
    with use(Context(lake, "seeds")):
        assert len(Session & {"session_name": "rat_session"}) == 0
    with use(Context(seed_lake.lake, "rats")):
        assert (Session & {"session_name": "sneaked"}).fetch(as_dict=True) == []
    lake.close()


@pytest.fixture
def selected_session(seeds):
    """Examples 12-13: the 11th session of SUBJECT with a sorting and a DATANAME dataset."""
    sessions = Session & (SpikeSorting() & dict(subject_name="SUBJECT"))
    specific_sessions = (Dataset & sessions & dict(dataset_name="DATANAME")).proj().fetch(as_dict=True)
    return (Session & specific_sessions[10]).fetch1()


# ---- setup and projects (4-6) --------------------------------------------------------------------
def test_04_import_all_tables_of_the_active_project(seeds) -> None:
    namespace: dict = {}
    exec("from labdata.schema import *", namespace)
    assert {"Session", "Subject", "SpikeSorting", "UnitCount", "DecisionTask", "File"} <= set(namespace)
    assert namespace["Session"]().context.project == "seeds"


def test_05_load_project_schema(seeds) -> None:
    project = load_project_schema("seeds")
    assert len(project.Session()) == 17
    other = load_project_schema("other_lab_project")
    if seeds.lake.remote:  # alice's grants name project seeds only
        with pytest.raises(AccessDeniedError, match="other_lab_project"):
            len(other.Session())
    else:
        assert len(other.Session()) == 0
    assert len(other.LabMember()) == 2, "lab-wide tables are shared"


def test_06_lab_members(seeds) -> None:
    members = LabMember().fetch(as_dict=True)
    assert [m["user_name"] for m in members] == ["couto", "other"]
    assert "couto" in repr(LabMember())


# ---- sessions and datasets (7-13) ------------------------------------------------------------------
def test_07_sessions_of_an_experimenter(seeds) -> None:
    user = "other"
    assert len(Session() & f'experimenter = "{user}"') == 2


def test_08_sessions_of_a_subject(seeds) -> None:
    sub = "JC178"
    assert list((Session() & f'subject_name = "{sub}"').fetch("session_name")) == [
        "20240201_090000", "20240202_090000", "20240203_090000"]


def test_09_sessions_with_a_dataset_like(seeds) -> None:
    sub = "JC178"
    sessions = Session() & (Dataset & f'subject_name = "{sub}"' & 'dataset_name LIKE "%ephys%"')
    assert len(sessions) == 3
    assert len(Session() & (Dataset & 'dataset_name LIKE "%EPHYS%"')) == 3, "MySQL's LIKE ignores case"


def test_10_insert_subjects_from_dicts(seeds, seed_lake) -> None:
    from datetime import date

    s = [dict(subject_name="NEW1", subject_dob=date(2024, 1, 1), subject_sex="F", strain_name="C57BL/6J",
              user_name="couto"),
         dict(subject_name="NEW2", subject_dob=date(2024, 1, 2), subject_sex="M", strain_name="C57BL/6J",
              user_name="other")]
    Subject.insert(s)
    assert (Subject & "subject_name LIKE 'NEW%'").fetch("subject_dob").tolist() == [date(2024, 1, 1), date(2024, 1, 2)]
    if seeds.lake.remote:  # a member may not delete subjects (the original's grants); an admin does
        with pytest.raises(AccessDeniedError, match="DELETE command denied"):
            (Subject & "subject_name LIKE 'NEW%'").delete()
        assert len(Subject & "subject_name LIKE 'NEW%'") == 2
        seeds = seed_lake
    with use(seeds):
        (Subject & "subject_name LIKE 'NEW%'").delete()


def test_11_to_13_sessions_with_a_sorting_and_one_full_row(seeds, selected_session) -> None:
    sessions = Session & (SpikeSorting() & dict(subject_name="SUBJECT"))
    assert len(sessions) == 12
    specific = (Dataset & sessions & dict(dataset_name="DATANAME")).proj().fetch(as_dict=True)
    assert specific[10] == dict(subject_name="SUBJECT", session_name=SUBJECT_SESSIONS[10], dataset_name="DATANAME")
    assert selected_session == dict(subject_name="SUBJECT", session_name=SUBJECT_SESSIONS[10],
                                    session_datetime=dt.datetime(2024, 1, 11, 10), experimenter="couto")


# ---- probes and recordings (14-18) ----------------------------------------------------------------
def test_14_probe_settings_with_configuration(seeds, selected_session) -> None:
    rows = (EphysRecording.ProbeSetting * ProbeConfiguration & selected_session).fetch(as_dict=True)
    assert len(rows) == 1
    assert rows[0]["probe_n_channels"] == 384 and rows[0]["sampling_rate"] == decimal.Decimal("30000")


def test_15_16_subjects_with_ephys_and_their_recordings(seeds) -> None:
    subjects = (Subject() & (Dataset & 'dataset_type = "ephys"')).proj().fetch(as_dict=True)
    assert subjects == [{"subject_name": "JC178"}, {"subject_name": "SUBJECT"}]
    subject = subjects[0]
    query = (EphysRecording() & subject).proj()
    assert len(query) == 3 and query.heading.names == ("subject_name", "session_name", "dataset_name")


def test_17_dates_and_durations(seeds) -> None:
    query = (EphysRecording() & {"subject_name": "JC178"}).proj()
    dates, duration = (Session * EphysRecording & query).fetch("session_datetime", "recording_duration")
    assert [d.day for d in dates] == [1, 2, 3]
    assert duration.dtype == np.float64 and duration.tolist() == [612.0, 613.0, 614.0]  # after SUBJECT's 12


def test_18_probe_configuration_blobs(seeds, selected_session) -> None:
    configuration = (EphysRecording.ProbeSetting * ProbeConfiguration & selected_session).fetch1()
    assert configuration["channel_coords"].shape == (384, 2)
    assert configuration["channel_shank"].tolist()[:97][-1] == 1


# ---- units (19-22) ------------------------------------------------------------------------------
def test_19_unit_metrics_without_null_positions(seeds, selected_session) -> None:
    unitmetrics = pd.DataFrame((UnitMetrics & selected_session & 'position != "NULL"'
                                & 'parameter_set_num = 5').fetch())
    assert len(unitmetrics) == 16, "units 0, 5, 10 and 15 have no position"
    assert all(isinstance(p, np.ndarray) and p.shape == (2,) for p in unitmetrics.position)
    assert unitmetrics.spike_amplitude.tolist()[:2] == [45.0, 50.0]


def test_20_units_with_their_spike_trains(seeds, selected_session) -> None:
    units = (SpikeSorting.Unit & selected_session & "parameter_set_num = 5").fetch(as_dict=True)
    assert len(units) == 20
    spikes = np.concatenate([u["spike_times"] for u in units])
    assert spikes.dtype == np.uint64 and spikes.size == sum(500 + u for u in range(20))
    assert units[3]["spike_positions"].shape == (503, 2)


def test_21_units_on_a_shank(seeds, selected_session) -> None:
    units = (SpikeSorting.Unit & (UnitMetrics & "shank = 2" & selected_session & "parameter_set_num = 5")
             ).fetch(as_dict=True)
    assert [u["unit_id"] for u in units] == [2, 6, 14, 18], "shank 2: units 2 mod 4 (unit 10 has no waveform)"


def test_22_spike_times_in_seconds_by_sampling_rate(seeds, selected_session) -> None:
    rate = float((EphysRecording.ProbeSetting & selected_session).fetch1("sampling_rate"))
    unit = (SpikeSorting.Unit & selected_session & {"unit_id": 1}).fetch1()
    seconds = unit["spike_times"] / rate
    assert seconds.max() < 600


# ---- events and sync (23-28) -----------------------------------------------------------------------
def test_23_24_digital_events_of_a_session(seeds, selected_session) -> None:
    # add_nidq_events and plot_synced arrive with the SpikeGLX issue; the query part:
    events = (DatasetEvents.Digital() & selected_session).fetch(as_dict=True)
    assert [(e["stream_name"], e["event_name"]) for e in events] == [("imec0", "6"), ("nidq", "1"), ("nidq", "7")]
    assert events[1]["event_values"].tolist() == [1, 0] * 5


def test_25_insert_a_stream_sync(seeds, selected_session) -> None:
    dset_key = (Dataset & (EphysRecording & selected_session)).proj().fetch1()
    StreamSync().insert1(dict(dset_key, stream_name="imec0", event_name=6, clock_dataset=dset_key["dataset_name"],
                              clock_stream="nidq", clock_stream_event=7), skip_duplicates=True)
    row = (StreamSync & selected_session).fetch1()
    assert (row["event_name"], row["clock_stream_event"]) == ("6", "7")


def _insert_stream_sync(selected_session: dict) -> None:
    dset_key = (Dataset & (EphysRecording & selected_session)).proj().fetch1()
    StreamSync().insert1(dict(dset_key, stream_name="imec0", event_name=6, clock_dataset=dset_key["dataset_name"],
                              clock_stream="nidq", clock_stream_event=7), skip_duplicates=True)


def test_26_27_synced_spike_times_and_events(seeds, selected_session) -> None:
    _insert_stream_sync(selected_session)
    units = (SpikeSorting.Unit & (UnitMetrics & selected_session & "parameter_set_num = 5")).get_spike_times(
        synced=True)
    assert len(units) == 20 and units[3]["spike_times"].dtype == np.float64
    samples = (SpikeSorting.Unit & selected_session & {"unit_id": 3}).fetch1("spike_times")
    assert np.allclose(units[3]["spike_times"], samples / 30000.0), "imec pulses every 30000 samples, nidq every 1 s"
    events = pd.DataFrame((DatasetEvents.Digital & selected_session).fetch())
    onsets = events[events.event_name == "1"].event_values.iloc[0] == 1
    assert onsets.sum() == 5


def test_29_event_triggered_rasters(seeds, selected_session) -> None:
    _insert_stream_sync(selected_session)
    units = (SpikeSorting.Unit & (UnitMetrics & selected_session & "parameter_set_num = 5")).get_spike_times(
        synced=True)
    events = pd.DataFrame((DatasetEvents.Digital & selected_session).fetch_synced())
    trial = events[(events.stream_name == "nidq") & (events.event_name == "1")].iloc[0]
    onsets = np.asarray(trial.event_timestamps)[np.asarray(trial.event_values) == 1]
    raster = [[u["spike_times"][(u["spike_times"] >= t - 0.5) & (u["spike_times"] < t + 1.0)] - t for t in onsets]
              for u in units]  # the user's raster: spikes around each trial onset
    assert len(raster) == 20 and len(raster[0]) == len(onsets) == 5
    total = sum(((u["spike_times"] >= t - 0.5) & (u["spike_times"] < t + 1.0)).sum() for u in units for t in onsets)
    assert sum(len(r) for unit in raster for r in unit) == total and all(
        (r >= -0.5).all() and (r < 1.0).all() for unit in raster for r in unit)


def test_28_find_a_data_file_by_pattern(seeds, selected_session) -> None:
    # File.get arrives with the stores issue; the query part:
    files = (File & (Dataset.DataFiles & selected_session & 'file_path LIKE "%orientation%.csv"')).fetch("file_path")
    assert files.tolist() == [f"SUBJECT/{SUBJECT_SESSIONS[10]}/behavior/orientation_log.csv"]


# ---- unit counts (30-33) ------------------------------------------------------------------------------
SEED_SUA = ("isi_contamination < 0.1 & amplitude_cutoff < 0.1 & spike_duration > 0.1 & spike_amplitude > 50 & "
            "presence_ratio > 0.6")
SEED_MUA = "spike_duration > 0.01 & n_electrodes_spanned < 20"


def test_30_insert_unit_count_criteria(seeds) -> None:
    for _ in range(2):
        UnitCountCriteria().insert1(dict(unit_criteria_id=1, sua_criteria=SEED_SUA, mua_criteria=SEED_MUA),
                                    skip_duplicates=True)
    assert len(UnitCountCriteria & {"unit_criteria_id": 1}) == 1


def test_31_unit_count_populate(seeds, selected_session) -> None:
    UnitCountCriteria().insert1(dict(unit_criteria_id=1, sua_criteria=SEED_SUA, mua_criteria=SEED_MUA),
                                skip_duplicates=True)  # example 30's criteria
    UnitCount.populate(selected_session)
    assert not UnitCount.progress(selected_session)[0], "every criteria of the session is counted"
    count = (UnitCount & selected_session & {"unit_criteria_id": 1}).fetch1()
    # units 0-4 have no refractory violation, units 3 and 4 are above 50 µV; units 0, 5, 10, 15 have no
    # waveform, so no spike_duration: they fail the MUA criteria too and are noise
    assert (count["all"], count["sua"], count["mua"]) == (20, 2, 14)
    passes = dict(zip(*(UnitCount.Unit & selected_session & {"unit_criteria_id": 1}).fetch("unit_id", "passes"),
                      strict=True))
    assert [u for u, p in passes.items() if p == 1] == [3, 4] and [u for u, p in passes.items() if p == -1] == [
        0, 5, 10, 15]


def test_32_single_units_with_metrics(seeds, selected_session) -> None:
    suaunits = (SpikeSorting.Unit & (UnitMetrics * UnitCount.Unit & "passes = 1" & selected_session
                                     & "parameter_set_num = 5"))
    assert [u["unit_id"] for u in suaunits.fetch(as_dict=True)] == [0, 1, 2, 3, 4]
    with_metrics = suaunits.get_spike_times(include_metrics=True)
    assert [u["unit_id"] for u in with_metrics] == [0, 1, 2, 3, 4]
    assert {"isi_contamination", "firing_rate", "spike_times"} <= set(with_metrics[0])
    assert with_metrics[0]["num_spikes"] == len(with_metrics[0]["spike_times"])
    metrics = (UnitMetrics & selected_session & "unit_id < 6").fetch("n_isi_violations", "isi_contamination")
    assert metrics[0].tolist() == [0, 0, 0, 0, 0, 1] and metrics[1].tolist()[:5] == [0.0] * 5
    assert metrics[1][5] is None or np.isnan(metrics[1][5]), "one violation in 500 spikes over 610 s: NULL"


def test_33_units_across_days(seeds) -> None:
    query = (EphysRecording() & {"subject_name": "SUBJECT"}).proj()
    unit_counts = pd.DataFrame((Session * EphysRecording * UnitCount & query).fetch())
    expected = {2: ([5, 20], "isi_contamination < 0.1"), 1: ([2, 20], SEED_SUA)}  # 1 once example 31 has run
    assert 2 in set(unit_counts.unit_criteria_id)
    for u in np.unique(unit_counts.unit_criteria_id):
        counts = unit_counts[unit_counts.unit_criteria_id == u][["sua", "all"]].values.tolist()
        assert counts == [expected[u][0]]
        assert (UnitCountCriteria & dict(unit_criteria_id=u)).fetch1("sua_criteria") == expected[u][1]


# ---- decision task (34-37) ----------------------------------------------------------------------------
def test_34_subjects_with_decision_task(seeds) -> None:
    mice = (Subject & DecisionTask()).fetch("KEY")
    assert mice == [{"subject_name": "JC178"}, {"subject_name": "SUBJECT"}]


def test_35_sessions_per_subject(seeds) -> None:
    frame = pd.DataFrame(Subject.aggr(DecisionTask, number_of_sessions="count(subject_name)"))
    assert frame.set_index("subject_name").number_of_sessions.to_dict() == {"JC178": 3, "SUBJECT": 12}
    kept = Subject.aggr(DecisionTask, number_of_sessions="count(dataset_name)", keep_all_rows=True)
    assert kept.fetch("number_of_sessions", order_by="subject_name").tolist() == [3, 0, 12], "JC179 kept with 0"


def test_36_performance_of_visual_trials(seeds) -> None:
    m = {"subject_name": "SUBJECT"}
    dates, perf = (DecisionTask * DecisionTask.TrialSet * Session & m & 'trialset_description = "visual"'
                   & "n_total_performed > 100").fetch("session_datetime", "performance_easy")
    performed = [50 + 20 * i for i in range(12)]  # SUBJECT's twelve task datasets come first
    assert len(dates) == sum(p > 100 for p in performed) == 9
    assert perf.dtype == np.float64 and np.all(np.diff(perf) > 0)


def test_37_first_session_of_a_subject(seeds) -> None:
    m = {"subject_name": "SUBJECT"}
    start_date = (Subject & m).aggr(DecisionTask * Session,
                                    first_session="min(session_datetime)").fetch1("first_session")
    assert start_date == dt.datetime(2024, 1, 1, 10)
