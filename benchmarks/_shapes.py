"""The query shapes of ``catalog_query.py``, written once for labdata and DataJoint.

Both libraries share DataJoint's algebra, so every shape is one function of a
namespace of table classes (``t.Session``, ``t.SpikeSorting.Unit``, ...) and
a probe (a subject, one of its sessions and that session's sorting key, from
:func:`_lab_rows.sample_keys`). The few API differences are handled by
:class:`Api`: unordered fetches (labdata sorts by primary key unless
``order_by=None``; DataJoint does not sort unless asked) and compiling
(``q.compile()`` against ``q.make_sql()``).

Timing (:func:`run`): one warm-up call, then the median of ``repeats`` calls,
each with the next probe, so no two consecutive calls ask for the same key. The
comparison runs a shape in rounds, the two libraries taking turns
(:func:`merge` joins a side's rounds), so that a change in the machine's load
weighs on both.
Only the standard library, pandas and :mod:`_lab_rows` are imported, so the DataJoint
interpreter can use this module too. Not a script; run the benchmark with
``python benchmarks/catalog_query.py [--scale S] [--dj-scale S]``.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from _lab_rows import CRITERIA

__all__ = ["KINDS", "Api", "Shape", "merge", "run", "shapes"]

LIKE = 'dataset_name LIKE "%ephys%"'
KINDS = {
    "key": "key-restricted: <= 5 ms and no slower than DataJoint",
    "scan": "lab-wide scan or aggregate: >= 10x faster than DataJoint",
    "big": "fetch the passing units: <= 0.5 s at lab scale, >= 10x faster than DataJoint",
    "compile": "build and compile a query: <= 1 ms",
    "guide": "a seed user-guide query as the guide writes it: no slower than DataJoint",
}


@dataclass(frozen=True)
class Api:
    """What differs between labdata and DataJoint 0.14."""

    name: str
    unordered: dict[str, Any]  # fetch keyword arguments for "no ORDER BY"
    compile: Callable[[Any], Any]


LABDATA = Api("labdata", {"order_by": None}, lambda q: q.compile())
DATAJOINT = Api("datajoint", {}, lambda q: q.make_sql())


@dataclass(frozen=True)
class Shape:
    """One timed query: key, label, target kind, repeats and the call (probe -> rows)."""

    key: str
    label: str
    kind: str
    repeats: int
    call: Callable[[dict[str, Any]], Any]


def shapes(t: Any, api: Api, repeats: float = 1.0) -> list[Shape]:
    """The shapes of the issue and of the seeds' user guide, for tables ``t`` of one library."""
    def n(count: int) -> int:
        return max(3, round(count * repeats))

    return [*_lab_shapes(t, api, n), *guide_shapes(t, n)]


def _lab_shapes(t: Any, api: Api, n: Callable[[int], int]) -> list[Shape]:
    """The key lookups, lab-wide scans and compiles of the issue."""
    un = api.unordered

    def compile_join(p: dict) -> Any:
        return api.compile(t.Session * t.Dataset & LIKE)

    def compile_aggr(p: dict) -> Any:
        return api.compile(t.Subject.aggr(t.Session * t.Dataset & LIKE, n="count(*)") & {"subject_sex": "F"})

    return [
        Shape("subject_sessions", "Session & subject, as dicts (20 rows)", "key", n(50),
              lambda p: (t.Session & {"subject_name": p["subject"]}).fetch(as_dict=True)),
        Shape("session_fetch1", "Session & full key, fetch1", "key", n(50),
              lambda p: [(t.Session & p["session"]).fetch1()]),
        Shape("session_datasets", "Dataset & (Session & key), proj, as dicts", "key", n(50),
              lambda p: (t.Dataset & (t.Session & p["session"])).proj().fetch(as_dict=True)),
        Shape("session_units", "SpikeSorting.Unit & sorting key, as dicts (25, blobs)", "key", n(50),
              lambda p: (t.SpikeSorting.Unit & p["sorting"]).fetch(as_dict=True)),
        Shape("subject_passing_units", "Unit & (UnitMetrics & criteria & subject), dicts", "key", n(30),
              lambda p: (t.SpikeSorting.Unit & (t.UnitMetrics & CRITERIA & {"subject_name": p["subject"]}))
              .fetch(as_dict=True)),
        Shape("subject_recordings", "Session * EphysRecording & subject, 2 columns", "key", n(50),
              lambda p: (t.Session * t.EphysRecording & {"subject_name": p["subject"]})
              .fetch("session_datetime", "recording_duration")[0]),
        Shape("criteria_count", "len(UnitMetrics & criteria), lab-wide", "scan", n(7),
              lambda p: range(len(t.UnitMetrics & CRITERIA))),
        Shape("passing_keys", "UnitMetrics & criteria: fetch('KEY'), unordered", "big", n(5),
              lambda p: (t.UnitMetrics & CRITERIA).fetch("KEY", **un)),
        Shape("passing_keys_sorted", "UnitMetrics & criteria: fetch('KEY'), key order", "big", n(5),
              lambda p: (t.UnitMetrics & CRITERIA).fetch("KEY", order_by="KEY")),
        Shape("passing_recarray", "UnitMetrics & criteria: proj().fetch(), recarray", "big", n(5),
              lambda p: (t.UnitMetrics & CRITERIA).proj().fetch(**un)),
        Shape("sessions_per_subject", "Subject.aggr(Session, n=count(*))", "scan", n(7),
              lambda p: t.Subject.aggr(t.Session, n="count(*)").fetch(**un)),
        Shape("files_per_subject", "Subject.aggr(DataFiles * File, n, size=sum(file_size))", "scan", n(5),
              lambda p: t.Subject.aggr(t.Dataset.DataFiles * t.File, n="count(*)", size="sum(file_size)")
              .fetch(**un)),
        Shape("compile_join", "build + compile: Session * Dataset & LIKE", "compile", n(1000),
              lambda p: [compile_join(p)]),
        Shape("compile_aggr", "build + compile: Subject.aggr(Session * Dataset & LIKE) & dict",
              "compile", n(1000), lambda p: [compile_aggr(p)]),
    ]


def guide_shapes(t: Any, n: Callable[[int], int]) -> list[Shape]:
    """The queries of the seeds' user guide, written as it writes them (MySQL strings, LIKE, fetch1, DataFrames).

    ``m`` and ``sel`` of the guide are a subject key and a session key of the probe.
    """
    def subject(p: dict) -> dict:
        return {"subject_name": p["subject"]}

    return [
        Shape("g_user_sessions", "Session & 'experimenter = \"X\"', as dicts", "guide", n(30),
              lambda p: (t.Session & f'experimenter = "{p["experimenter"]}"').fetch(as_dict=True)),
        Shape("g_subject_sessions", "Session & 'subject_name = \"X\"', as dicts", "guide", n(50),
              lambda p: (t.Session & f'subject_name = "{p["subject"]}"').fetch(as_dict=True)),
        Shape("g_ephys_like", "Session & (Dataset & 'subject_name = ..' & 'dataset_name LIKE ..'), dicts", "guide",
              n(50), lambda p: (t.Session & (t.Dataset & f'subject_name = "{p["subject"]}"'
                                             & 'dataset_name LIKE "%ephys%"')).fetch(as_dict=True)),
        Shape("g_trials_file", "(File & (DataFiles & sel & 'file_path LIKE ..')).fetch('file_path')", "guide", n(50),
              lambda p: (t.File & (t.Dataset.DataFiles & p["session"] & 'file_path LIKE "%_trials.csv"'))
              .fetch("file_path")),
        Shape("g_first_session", "(Subject & m).aggr(DecisionTask * Session, min(..)).fetch1(..)", "guide", n(50),
              lambda p: [(t.Subject & subject(p)).aggr(t.DecisionTask * t.Session,
                                                       first_session="min(session_datetime)")
                         .fetch1("first_session")]),
        Shape("g_visual_perf", "DecisionTask * TrialSet * Session & m & 2 strings, fetch 2 columns", "guide", n(50),
              lambda p: (t.DecisionTask * t.DecisionTask.TrialSet * t.Session & subject(p)
                         & 'trialset_description = "visual"' & 'n_total_performed > 100')
              .fetch("session_datetime", "performance_easy")[0]),
        Shape("g_unit_counts", "DataFrame(Session * EphysRecording * UnitCount & (EphysRecording & m).proj())",
              "guide", n(50), lambda p: pd.DataFrame((t.Session * t.EphysRecording * t.UnitCount
                                                      & (t.EphysRecording & subject(p)).proj()).fetch())),
        Shape("g_tasks_per_subject", "DataFrame(Subject.aggr(DecisionTask, n='count(subject_name)'))", "guide",
              n(30), lambda p: pd.DataFrame(t.Subject.aggr(t.DecisionTask, n="count(subject_name)").fetch())),
        Shape("g_task_subjects", "(Subject & DecisionTask).fetch('KEY')", "guide", n(30),
              lambda p: (t.Subject & t.DecisionTask).fetch("KEY")),
        Shape("g_ephys_subjects", "(Subject & (Dataset & 'dataset_type = \"ephys\"')).proj(), dicts", "guide",
              n(30), lambda p: (t.Subject & (t.Dataset & 'dataset_type = "ephys"')).proj().fetch(as_dict=True)),
        Shape("g_sorted_sessions", "Session & (SpikeSorting & dict(subject_name=..)), dicts", "guide", n(50),
              lambda p: (t.Session & (t.SpikeSorting & subject(p))).fetch(as_dict=True)),
        Shape("g_session_fetch1", "(Session & key).fetch1()", "guide", n(50),
              lambda p: [(t.Session & p["session"]).fetch1()]),
        Shape("g_probe_fetch1", "(ProbeSetting * ProbeConfiguration & sel).fetch1() (blobs)", "guide", n(50),
              lambda p: [(t.EphysRecording.ProbeSetting * t.ProbeConfiguration & p["session"]).fetch1()]),
        Shape("g_dataset_fetch1", "(Dataset & (EphysRecording & sel)).proj().fetch1()", "guide", n(50),
              lambda p: [(t.Dataset & (t.EphysRecording & p["session"])).proj().fetch1()]),
        Shape("g_units_str", "(Unit & sel & 'parameter_set_num = 1'), dicts (blobs)", "guide", n(50),
              lambda p: (t.SpikeSorting.Unit & p["session"] & "parameter_set_num = 1").fetch(as_dict=True)),
        Shape("g_shank_units", "Unit & (UnitMetrics & 'shank = 2' & sel & 'parameter_set_num = 1'), dicts", "guide",
              n(50), lambda p: (t.SpikeSorting.Unit & (t.UnitMetrics & "shank = 2" & p["session"]
                                                       & "parameter_set_num = 1")).fetch(as_dict=True)),
        Shape("g_metrics_frame", "DataFrame((UnitMetrics & sel & 'parameter_set_num = 1').fetch())", "guide", n(50),
              lambda p: pd.DataFrame((t.UnitMetrics & p["session"] & "parameter_set_num = 1").fetch())),
        Shape("g_criteria_fetch1", "(UnitCountCriteria & dict(unit_criteria_id=1)).fetch1('sua_criteria')", "guide",
              n(50), lambda p: [(t.UnitCountCriteria & {"unit_criteria_id": 1}).fetch1("sua_criteria")]),
    ]


def run(shape: Shape, probes: list[dict[str, Any]], progress: Callable[[], None] | None = None,
        part: tuple[int, int] = (0, 1)) -> dict[str, Any]:
    """Time one shape: warm-up, then the median of ``shape.repeats`` calls; also the row count.

    ``part = (r, rounds)`` times only the calls ``r, r + rounds, ...`` (the warm-up and the row
    count in round 0), so that two libraries can take turns round by round (:func:`merge`).
    """
    round_, rounds = part
    rows = len(shape.call(probes[0])) if round_ == 0 else None
    times = []
    for i in range(round_, shape.repeats, rounds):
        probe = probes[(i + 1) % len(probes)]
        start = time.perf_counter()
        shape.call(probe)
        times.append(time.perf_counter() - start)
        if progress is not None:
            progress()
    return {"median_ms": 1000 * statistics.median(times) if times else None, "rows": rows,
            "repeats": len(times), "times": times}


def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from the rounds of :func:`run`: the median of every call, the rows of round 0."""
    times = [t for part in parts for t in part["times"]]
    return {"median_ms": 1000 * statistics.median(times), "rows": parts[0]["rows"], "repeats": len(times)}


def log(message: str) -> None:
    """Progress message to stderr."""
    print(message, file=sys.stderr, flush=True)
