"""Seeded rows of a lab-scale catalog, shared by the labdata and DataJoint sides.

Only numpy is imported, so the DataJoint baseline (``_dj_baseline.py``, run
with another interpreter) generates exactly the rows labdata loads.
:func:`tables` yields ``(class name, columns)`` one table at a time, parents
first; ``columns`` maps attribute names to numpy arrays of one length, or to a
:class:`Blob` (one array, the same value in every row, serialised by each
side with its own blob format). Attributes not listed are NULL.

At ``scale=1`` the catalog has 10,000 subjects, 200,000 sessions (20 per
subject), 400,000 datasets (``ephys_g0`` and ``task`` per session),
2,000,000 files (5 per dataset; a task dataset's first is ``<session>_trials.csv``),
one recording, probe setting and sorting per ephys dataset, and 5,000,000 units with
metrics (25 per sorting), of which about 24 % pass ``CRITERIA``, a ``DecisionTask`` per
task dataset with a visual and an auditory ``TrialSet``, and a ``UnitCount`` per sorting
(one ``UnitCountCriteria``). Subjects are enrolled one after another over five years
and rows are laid out in session-time order, as a lab produces them (not sorted by
primary key).

Not a script, used by ``catalog_query.py`` and ``_dj_baseline.py``; run the
benchmark with ``python benchmarks/catalog_query.py [--scale S] [--dj-scale S]``.
"""

from __future__ import annotations

import binascii
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CRITERIA", "Blob", "Sizes", "sample_keys", "sizes", "tables"]

CRITERIA = "isi_contamination < 0.1 AND amplitude_cutoff < 0.1 AND presence_ratio > 0.6"
"""The lab-wide unit criteria of the issue, in MySQL syntax (``AND``, not ``&``)."""

SEED = 20240601
USERS = ("alice", "bob", "carol", "dave", "erin")
STRAINS = ("C57BL/6J", "Ai148", "PV-Cre")
SETUPS = ("rig1", "rig2", "rig3", "rig4")
DATASETS = (("ephys_g0", "ephys"), ("task", "task-behavior"))
SESSIONS_PER_SUBJECT, FILES_PER_DATASET, UNITS_PER_SORTING = 20, 5, 25
TASK_FILES = ("_trials.csv", "_settings.json", "_video.avi", "_events.csv", "_log.txt")  # files of a task dataset
TRIALSETS = ("visual", "auditory")
MUA_CRITERIA = "spike_duration > 0.01 AND n_electrodes_spanned < 20"
ENROLLMENT_DAYS = 5 * 365
METRICS = ("span_um", "firing_rate", "isi_contamination_hill", "depth_drift_range", "depth_drift_fluctuation",
           "depth_drift_start_to_end", "firing_range", "amplitude_drift", "spike_amplitude", "snr",
           "spike_duration", "trough_time", "trough_amplitude", "fw3m", "trough_gradient", "peak_gradient",
           "peak_time", "peak_amplitude")


@dataclass(frozen=True)
class Blob:
    """A blob attribute holding the same array in every row."""

    value: np.ndarray


@dataclass(frozen=True)
class Sizes:
    """Row counts of one scale."""

    subjects: int
    probes: int

    @property
    def sessions(self) -> int:
        return self.subjects * SESSIONS_PER_SUBJECT

    @property
    def datasets(self) -> int:
        return self.sessions * len(DATASETS)

    @property
    def files(self) -> int:
        return self.datasets * FILES_PER_DATASET

    @property
    def units(self) -> int:
        return self.sessions * UNITS_PER_SORTING


def sizes(scale: float) -> Sizes:
    """Row counts at ``scale`` (1 = 10,000 subjects)."""
    return Sizes(subjects=max(2, round(10_000 * scale)), probes=max(1, round(200 * scale)))


def _rng(table: int) -> np.random.Generator:
    return np.random.default_rng([SEED, table])


def _subject_names(n: int) -> np.ndarray:
    return np.array([f"S{i:05d}" for i in range(n)], dtype=object)


def _sessions(size: Sizes) -> dict[str, np.ndarray]:
    """Session-level arrays in session-time order (``subject`` is the subject index)."""
    rng = _rng(1)
    n = size.subjects
    enroll = np.floor(np.arange(n) * ENROLLMENT_DAYS / n).astype("int64")
    subject = np.repeat(np.arange(n), SESSIONS_PER_SUBJECT)
    day = enroll[subject] + np.tile(np.arange(SESSIONS_PER_SUBJECT) * 2, n)  # every other day
    seconds = rng.integers(9 * 3600, 18 * 3600, subject.size)
    when = np.datetime64("2020-01-01T00:00:00") + (day * 86400 + seconds).astype("timedelta64[s]")
    order = np.argsort(when, kind="stable")
    subject, when = subject[order], when[order]
    text = np.datetime_as_string(when, unit="s")
    names = np.array([t[:4] + t[5:7] + t[8:10] + "_" + t[11:13] + t[14:16] + t[17:19] for t in text], dtype=object)
    return {"subject": subject, "datetime": when, "name": names,
            "experimenter": np.array(USERS, dtype=object)[rng.integers(0, len(USERS), subject.size)]}


def _md5(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.frombuffer(binascii.hexlify(rng.bytes(16 * n)), dtype="S32").astype(object).astype(str)


def tables(scale: float) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(class name, columns)`` for every table of the catalog at ``scale``, parents first."""
    size = sizes(scale)
    users = np.array(USERS, dtype=object)
    yield "LabMember", {"user_name": users, "email": np.array([f"{u}@lab.org" for u in USERS], dtype=object),
                        "date_joined": np.full(len(USERS), np.datetime64("2019-01-01", "D")),
                        "is_active": np.ones(len(USERS), dtype=bool)}
    yield "Species", {"species_name": np.array(["mouse"], dtype=object),
                      "species_scientific_name": np.array(["Mus musculus"], dtype=object)}
    yield "Strain", {"strain_name": np.array(STRAINS, dtype=object),
                     "species_name": np.array(["mouse"] * len(STRAINS), dtype=object)}
    yield "Setup", {"setup_name": np.array(SETUPS, dtype=object),
                    "setup_location": np.array(["CHS-74100"] * len(SETUPS), dtype=object)}
    rng = _rng(0)
    n = size.subjects
    subjects = _subject_names(n)
    enroll = np.floor(np.arange(n) * ENROLLMENT_DAYS / n).astype("int64")
    yield "Subject", {"subject_name": subjects,
                      "subject_dob": np.datetime64("2019-11-01", "D") + (enroll - rng.integers(60, 90, n)),
                      "subject_sex": np.array(["M", "F"], dtype=object)[rng.integers(0, 2, n)],
                      "strain_name": np.array(STRAINS, dtype=object)[rng.integers(0, len(STRAINS), n)],
                      "user_name": users[rng.integers(0, len(USERS), n)]}
    s = _sessions(size)
    subj = subjects[s["subject"]]
    yield "Session", {"subject_name": subj, "session_name": s["name"], "session_datetime": s["datetime"],
                      "experimenter": s["experimenter"]}
    yield from _datasets_and_files(size, s, subj)
    yield from _ephys(size, s, subj)
    yield from _tasks(size, s, subj)


def _datasets_and_files(size: Sizes, s: dict[str, np.ndarray], subj: np.ndarray) -> Iterator[tuple[str, dict]]:
    rng = _rng(2)
    k = len(DATASETS)
    names = np.array([d for d, _ in DATASETS], dtype=object)
    d_subj, d_sess = np.repeat(subj, k), np.repeat(s["name"], k)
    d_name = np.tile(names, size.sessions)
    yield "Dataset", {"subject_name": d_subj, "session_name": d_sess, "dataset_name": d_name,
                      "dataset_type": np.tile(np.array([t for _, t in DATASETS], dtype=object), size.sessions),
                      "setup_name": np.repeat(np.array(SETUPS, dtype=object)[rng.integers(0, len(SETUPS),
                                                                                          size.sessions)], k)}
    f = FILES_PER_DATASET
    f_subj, f_sess, f_name = np.repeat(d_subj, f), np.repeat(d_sess, f), np.repeat(d_name, f)
    index = np.tile(np.arange(f), size.datasets)
    paths = np.array([f"{a}/{b}/{c}/file_{i}.bin" if c == DATASETS[0][0] else f"{a}/{b}/{c}/{b}{TASK_FILES[i]}"
                      for a, b, c, i in zip(f_subj, f_sess, f_name, index, strict=True)], dtype=object)
    storage = np.full(size.files, "data", dtype=object)
    ephys = np.repeat(np.tile(np.array([1.0, 0.0]), size.sessions), f)
    file_size = np.round(rng.lognormal(16 + 6 * ephys, 1.0)).astype("float64")
    yield "File", {"file_path": paths, "storage": storage,
                   "file_datetime": np.repeat(s["datetime"], k * f) + index.astype("timedelta64[s]"),
                   "file_size": file_size, "file_md5": _md5(rng, size.files)}
    yield "Dataset.DataFiles", {"subject_name": f_subj, "session_name": f_sess, "dataset_name": f_name,
                                "file_path": paths, "storage": storage}


def _ephys(size: Sizes, s: dict[str, np.ndarray], subj: np.ndarray) -> Iterator[tuple[str, dict]]:
    rng = _rng(3)
    p = size.probes
    probe_ids = np.array([f"{18005100000 + i}" for i in range(p)], dtype=object)
    yield "Probe", {"probe_id": probe_ids, "probe_type": np.array(["0", "24"] * p, dtype=object)[:p],
                    "probe_n_shanks": np.array([1, 4] * p, dtype="int8")[:p],
                    "probe_recording_channels": np.full(p, 384, dtype="int32")}
    yield "ProbeConfiguration", {"probe_id": probe_ids, "configuration_id": np.ones(p, dtype="int16"),
                                 "probe_n_channels": np.full(p, 384, dtype="int32"),
                                 "probe_gain": np.full(p, 2.34375, dtype="float32"),
                                 "channel_idx": Blob(np.arange(384, dtype="int16")),
                                 "channel_shank": Blob(np.zeros(384, dtype="int16")),
                                 "channel_coords": Blob(np.zeros((384, 2), dtype="float32"))}
    n = size.sessions
    key = {"subject_name": subj, "session_name": s["name"],
           "dataset_name": np.full(n, DATASETS[0][0], dtype=object)}
    yield "EphysRecording", {**key, "n_probes": np.ones(n, dtype="int16"),
                             "recording_duration": rng.uniform(1200, 4000, n).astype("float32"),
                             "recording_software": np.full(n, "spikeglx", dtype=object)}
    probe_key = {**key, "probe_num": np.zeros(n, dtype="int16")}
    yield "EphysRecording.ProbeSetting", {**probe_key, "probe_id": probe_ids[s["subject"] % p],
                                          "configuration_id": np.ones(n, dtype="int16"),
                                          "sampling_rate": np.full(n, 30000.0)}
    yield "SpikeSortingParams", {"parameter_set_num": np.array([1], dtype="int32"),
                                 "algorithm_name": np.array(["spks_kilosort4.0"], dtype=object),
                                 "parameters_dict": np.array(['{"th": [9, 8]}'], dtype=object)}
    sorting_key = {**probe_key, "parameter_set_num": np.ones(n, dtype="int32")}
    yield "SpikeSorting", {**sorting_key, "algorithm_version": np.full(n, "4.0.16", dtype=object),
                           "sorting_datetime": s["datetime"] + np.timedelta64(1, "D"),
                           "n_pre_samples": np.full(n, 30, dtype="int16"),
                           "n_sorted_units": np.full(n, UNITS_PER_SORTING, dtype="int32"),
                           "n_detected_spikes": rng.integers(10**5, 10**7, n).astype("int32")}
    u = UNITS_PER_SORTING
    unit_key = {name: np.repeat(values, u) for name, values in sorting_key.items()}
    unit_key["unit_id"] = np.tile(np.arange(u, dtype="int32"), n)
    yield "SpikeSorting.Unit", {**unit_key, "spike_times": Blob(np.arange(10, dtype="uint64"))}
    yield "UnitMetrics", {**unit_key, **_metrics(n * u)}


def _tasks(size: Sizes, s: dict[str, np.ndarray], subj: np.ndarray) -> Iterator[tuple[str, dict]]:
    """A DecisionTask row per task dataset with a visual and an auditory trial set; unit counts per sorting."""
    rng = _rng(5)
    n, k = size.sessions, len(TRIALSETS)
    key = {"subject_name": subj, "session_name": s["name"], "dataset_name": np.full(n, DATASETS[1][0], dtype=object)}
    trials = rng.integers(50, 600, n).astype("int32")
    performed = (trials * rng.uniform(0.3, 1.0, n)).astype("int32")
    yield "DecisionTask", {**key, "n_total_trials": trials, "n_total_performed": performed}
    per = rng.integers(20, 300, n * k).astype("int32")
    yield "DecisionTask.TrialSet", {**{name: np.repeat(values, k) for name, values in key.items()},
                                    "trialset_description": np.tile(np.array(TRIALSETS, dtype=object), n),
                                    "n_trials": per, "n_performed": per, "n_with_choice": per, "n_correct": per // 2,
                                    "performance_easy": rng.uniform(0.4, 1.0, n * k).astype("float32"),
                                    "performance": rng.uniform(0.4, 1.0, n * k).astype("float32"),
                                    "trial_num": Blob(np.arange(10, dtype="int32"))}
    yield "UnitCountCriteria", {"unit_criteria_id": np.array([1], dtype="int32"),
                                "sua_criteria": np.array([CRITERIA], dtype=object),
                                "mua_criteria": np.array([MUA_CRITERIA], dtype=object)}
    sua = rng.integers(0, UNITS_PER_SORTING // 2, n).astype("int32")
    yield "UnitCount", {"subject_name": subj, "session_name": s["name"],
                        "dataset_name": np.full(n, DATASETS[0][0], dtype=object), "probe_num": np.zeros(n, "int16"),
                        "parameter_set_num": np.ones(n, dtype="int32"), "unit_criteria_id": np.ones(n, "int32"),
                        "all": np.full(n, UNITS_PER_SORTING, dtype="int32"), "sua": sua,
                        "mua": (UNITS_PER_SORTING - sua) // 2}


def _metrics(n: int) -> dict[str, np.ndarray]:
    """Unit metrics; about 0.6 * 0.8 * 0.5 = 24 % of the units pass CRITERIA."""
    rng = _rng(4)
    columns: dict[str, np.ndarray] = {
        "num_spikes": rng.integers(100, 200_000, n).astype("int32"),
        "depth": rng.uniform(0, 3840, n),
        "shank": rng.integers(0, 4, n).astype("int32"),
        "channel_index": rng.integers(0, 384, n).astype("int32"),
        "n_electrodes_spanned": rng.integers(1, 40, n).astype("int32"),
        "isi_contamination": rng.uniform(0, 1 / 6, n).astype("float32"),
        "n_isi_violations": rng.integers(0, 500, n).astype("int32"),
        "amplitude_cutoff": rng.uniform(0, 0.125, n).astype("float32"),
        "presence_ratio": rng.uniform(0.2, 1.0, n).astype("float32"),
        "polarity": rng.choice(np.array([-1, 1], dtype="int8"), n),
    }
    for name in METRICS:
        columns[name] = rng.standard_normal(n).astype("float32")
    return columns


def sample_keys(scale: float, count: int) -> list[dict[str, Any]]:
    """``count`` spread-out probes: a subject, one of its sessions and that session's sorting key."""
    size = sizes(scale)
    rng = np.random.default_rng([SEED, 99])
    picked = rng.choice(size.subjects, size=count, replace=count > size.subjects)
    s = _sessions(size)
    by_subject = np.argsort(s["subject"], kind="stable").reshape(size.subjects, SESSIONS_PER_SUBJECT)
    probes = []
    for index in picked:
        position = by_subject[index, rng.integers(0, SESSIONS_PER_SUBJECT)]
        subject, session = f"S{int(index):05d}", str(s["name"][position])
        sorting = {"subject_name": subject, "session_name": session, "dataset_name": DATASETS[0][0],
                   "probe_num": 0, "parameter_set_num": 1}
        probes.append({"subject": subject, "session": {"subject_name": subject, "session_name": session},
                       "sorting": sorting, "experimenter": USERS[len(probes) % len(USERS)]})
    return probes
