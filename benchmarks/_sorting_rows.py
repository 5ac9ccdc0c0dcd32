"""Seeded rows of a lab's spike sortings, shared by every side of ``sorting.py``.

Only numpy is imported, so the DataJoint side (``_sorting_dj.py``, run with
another interpreter) builds exactly the rows labdata inserts and the ``.npy``
files hold. A lab of ``n`` sortings has one sorting (probe 0, parameter set 1)
per ephys session, ten sessions per subject, one session a day; sorting ``i``
has ``units`` units, each with a Poisson-like train of about ``spikes`` sorted
``uint64`` sample times over a one-hour recording at 30 kHz, ``float32``
amplitudes ~ N(100, 20) and ``float32`` N x 2 positions scattered around a
position of the unit on a 64 x 3,840 um probe.

Not a script, used by ``sorting.py`` and ``_sorting_dj.py``; run the
benchmark with ``python benchmarks/sorting.py [--small]``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Lab", "sample_units", "session_keys", "unit_arrays", "unit_keys", "units"]

SEED = 20240715
SESSIONS_PER_SUBJECT = 10
SAMPLING_RATE = 30_000.0
DURATION_S = 3600.0
PROBE = "18005116482"
USER = "couto"
SORTING = {"dataset_name": "ephys_g0", "probe_num": 0, "parameter_set_num": 1}


@dataclass(frozen=True)
class Lab:
    """Sizes of the lab: sortings, units per sorting, mean spikes per unit."""

    sortings: int
    units: int = 50
    spikes: int = 2000

    @property
    def total_units(self) -> int:
        return self.sortings * self.units

    def sorting_key(self, i: int) -> dict[str, Any]:
        """Primary key of sorting ``i``."""
        subject, day = divmod(i, SESSIONS_PER_SUBJECT)
        when = _session_time(subject, day)
        return {"subject_name": f"SS{subject:05d}", "session_name": when.strftime("%Y%m%d_%H%M%S"), **SORTING}

    def parents(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """``(table, rows)`` of every table above the units, parents first (plain Python values)."""
        subjects = sorted({self.sorting_key(i)["subject_name"] for i in range(self.sortings)})
        sorts = [self.sorting_key(i) for i in range(self.sortings)]
        sessions = [{"subject_name": k["subject_name"], "session_name": k["session_name"]} for k in sorts]
        datasets = [s | {"dataset_name": SORTING["dataset_name"]} for s in sessions]
        return [
            ("LabMember", [{"user_name": USER, "date_joined": "2019-09-01"}]),
            ("Species", [{"species_name": "mouse", "species_scientific_name": "Mus musculus"}]),
            ("Strain", [{"strain_name": "C57BL/6J", "species_name": "mouse"}]),
            ("Subject", [{"subject_name": s, "subject_dob": "2023-06-01", "subject_sex": "M",
                          "strain_name": "C57BL/6J", "user_name": USER} for s in subjects]),
            ("Session", [s | {"session_datetime": _from_name(s["session_name"]), "experimenter": USER}
                         for s in sessions]),
            ("Dataset", [d | {"dataset_type": "ephys"} for d in datasets]),
            ("Probe", [{"probe_id": PROBE, "probe_type": "0", "probe_n_shanks": 1, "probe_recording_channels": 384}]),
            ("ProbeConfiguration", [{"probe_id": PROBE, "configuration_id": 1, "probe_n_channels": 384,
                                     "probe_gain": 2.34375, "channel_idx": np.arange(384, dtype="int16"),
                                     "channel_shank": np.zeros(384, dtype="int16"),
                                     "channel_coords": _channel_coords()}]),
            ("EphysRecording", [d | {"n_probes": 1, "recording_duration": DURATION_S,
                                     "recording_software": "spikeglx"} for d in datasets]),
            ("EphysRecording.ProbeSetting", [d | {"probe_num": 0, "probe_id": PROBE, "configuration_id": 1,
                                                  "sampling_rate": SAMPLING_RATE} for d in datasets]),
            ("SpikeSortingParams", [{"parameter_set_num": 1, "algorithm_name": "spks_kilosort4.0",
                                     "parameters_dict": "{}"}]),
            ("SpikeSorting", [k | {"algorithm_version": "4.0.16", "n_sorted_units": self.units} for k in sorts]),
        ]


def _session_time(subject: int, day: int) -> dt.datetime:
    start = dt.datetime(2022, 1, 3, 10) + dt.timedelta(days=SESSIONS_PER_SUBJECT * subject)
    return start + dt.timedelta(days=day, minutes=7 * (subject % 60))


def _from_name(name: str) -> str:
    return dt.datetime.strptime(name, "%Y%m%d_%H%M%S").strftime("%Y-%m-%d %H:%M:%S")


def _channel_coords() -> np.ndarray:
    return np.column_stack([np.tile([16.0, 48.0], 192), np.repeat(np.arange(192) * 20.0, 2)]).astype("float32")


def unit_arrays(lab: Lab, i: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(spike_times, spike_amplitudes, spike_positions)`` of every unit of sorting ``i``, by unit id."""
    rng = np.random.default_rng([SEED, i])
    samples = int(DURATION_S * SAMPLING_RATE)
    counts = rng.poisson(lab.spikes, lab.units)
    centers = np.column_stack([rng.uniform(0, 64, lab.units), rng.uniform(0, 3840, lab.units)])
    out = []
    for unit, n in enumerate(counts):
        times = np.sort(rng.integers(0, samples, n, dtype=np.uint64))  # a Poisson process given its count
        amplitudes = rng.normal(100, 20, n).astype(np.float32)
        positions = (centers[unit] + rng.normal(0, 5, (n, 2))).astype(np.float32)
        out.append((times, amplitudes, positions))
    return out


def units(lab: Lab, i: int, arrays: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None
          ) -> list[dict[str, Any]]:
    """The ``SpikeSorting.Unit`` rows of sorting ``i``: key and its three arrays (``arrays``, else made)."""
    key = lab.sorting_key(i)
    return [key | {"unit_id": u, "spike_times": t, "spike_amplitudes": a, "spike_positions": p}
            for u, (t, a, p) in enumerate(unit_arrays(lab, i) if arrays is None else arrays)]


def sample_units(lab: Lab, n: int, draw: int) -> list[tuple[int, int]]:
    """``n`` distinct ``(sorting, unit)`` pairs spread over the lab (draw ``draw`` of a seeded sequence)."""
    rng = np.random.default_rng([SEED, 1_000_000 + draw])
    flat = np.sort(rng.choice(lab.total_units, size=min(n, lab.total_units), replace=False))
    return [(int(f) // lab.units, int(f) % lab.units) for f in flat]


def unit_keys(lab: Lab, pairs: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """Primary keys of ``(sorting, unit)`` pairs."""
    return [lab.sorting_key(s) | {"unit_id": u} for s, u in pairs]


def session_keys(lab: Lab, draw: int) -> tuple[int, dict[str, Any]]:
    """A sorting (index and session key) chosen by draw ``draw``, spread over the lab."""
    i = (draw * 7919 + lab.sortings // 3) % lab.sortings
    key = lab.sorting_key(i)
    return i, {"subject_name": key["subject_name"], "session_name": key["session_name"]}
