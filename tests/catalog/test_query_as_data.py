"""Queries are plain data: they pickle, run in another process, and compile to SQL without a lake.

The golden files under ``golden/`` hold the SQL of the seeds' query shapes;
``LABDATA_UPDATE_GOLDEN=1 pytest tests/catalog/test_query_as_data.py`` rewrites
them after a deliberate change of the compiler (review the diff).
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
from pathlib import Path

import pytest
import workers

from labdata.catalog import AndList, Context, Not, use
from labdata.catalog.engine.context import default_contexts
from labdata.catalog.expr.nodes import Source
from labdata.schema import Dataset, DecisionTask, File, LabMember, Session, Species, Strain, Subject, UnitCount, dj
from labdata.schema.ephys import EphysRecording, SpikeSorting, UnitMetrics
from labdata.schema.projects import load_project_schema

GOLDEN = Path(__file__).parent / "golden"
SUBJECT = {"subject_name": "JC178"}

SHAPES = {
    "string_equality": lambda: Session & 'subject_name = "JC178"',
    "experimenter": lambda: Session & 'experimenter = "couto"',
    "dict_and_negation": lambda: (Session & SUBJECT) - {"session_name": "s1"},
    "like_semijoin": lambda: Session & (Dataset & SUBJECT & 'dataset_name LIKE "%ephys%"'),
    "file_paths": lambda: File & (Dataset.DataFiles & SUBJECT & 'file_path LIKE "%_trials.csv"'),
    "first_session": lambda: (Subject & SUBJECT).aggr(DecisionTask * Session, first_session="min(session_datetime)"),
    "trialsets": lambda: (DecisionTask * DecisionTask.TrialSet * Session & SUBJECT
                          & 'trialset_description = "visual"' & "n_total_performed > 100"),
    "units_of_sessions": lambda: Session * EphysRecording * UnitCount & [SUBJECT, {"subject_name": "JC179"}],
    "count_per_subject": lambda: Subject.aggr(DecisionTask, n="count(subject_name)"),
    "universal": lambda: dj.U("subject_name") & Session,
    "universal_aggr": lambda: dj.U("session_name").aggr(Session, n="count(*)"),
    "projection": lambda: Session.proj("session_datetime", who="experimenter", year="year(session_datetime)"),
    "and_not_or": lambda: Session & AndList([SUBJECT, Not('session_name LIKE "x%"')]) & [{"session_name": "a"}, "1=0"],
    "criteria": lambda: UnitMetrics & "isi_contamination < 0.1 AND presence_ratio > 0.6",
    "key_rows": lambda: SpikeSorting.Unit & [{"subject_name": f"s{i}", "session_name": "a"} for i in range(10)],
    "union": lambda: (Session & SUBJECT).proj() + (Session & {"subject_name": "JC179"}).proj(),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_queries_compile_to_the_golden_sql_without_a_lake(name: str) -> None:
    query = SHAPES[name]()
    sql, params = query.compile(catalog="lake", project="mice")
    assert default_contexts._context is None, "compiling opened a lake"
    text = sql + "\n-- params: " + repr({k: v for k, v in params.items() if not k.startswith("labdata_keys")}) + "\n"
    golden = GOLDEN / f"{name}.sql"
    if os.environ.get("LABDATA_UPDATE_GOLDEN") == "1" or not golden.exists():
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text)
    assert text == golden.read_text()
    assert '"mice"' in sql or '"mice_computed"' in sql or '"lab"' in sql


def test_a_query_pickles_without_a_lake() -> None:
    query = SHAPES["first_session"]()
    restored = pickle.loads(pickle.dumps(query))
    assert restored.compile(catalog="lake", project="mice") == query.compile(catalog="lake", project="mice")
    assert default_contexts._context is None
    part = pickle.loads(pickle.dumps(SpikeSorting.Unit & SUBJECT))
    assert type(part) is SpikeSorting.Unit and part.heading.names == SpikeSorting.Unit.heading.names


def test_source_nodes_hold_a_table_reference_and_its_heading() -> None:
    node = Session().node
    assert isinstance(node, Source) and node.sql_name == "session" and node.group == "data"
    assert node.project is None and node.heading.primary_key == ("subject_name", "session_name")
    assert node.schema("rats") == "rats"


def _fill(context: Context) -> None:
    with use(context):
        LabMember.insert1(dict(user_name="couto", date_joined="2019-09-01"))
        Species.insert1(dict(species_name="mouse", species_scientific_name="Mus musculus"))
        Strain.insert1(dict(strain_name="C57BL/6J", species_name="mouse"))
        Subject.insert([dict(subject_name=f"JC{n}", subject_dob="2023-01-01", subject_sex="M",
                             strain_name="C57BL/6J", user_name="couto") for n in range(170, 180)])
        Session.insert([dict(subject_name=f"JC{n}", session_name=f"s{k}", experimenter="couto",
                             session_datetime=f"2024-01-{k + 1:02d} 10:00:00")
                        for n in range(170, 180) for k in range(n - 168)])


def test_a_bound_query_runs_in_a_spawned_process_on_the_same_lake(lakes) -> None:
    lake = lakes.open()
    _fill(Context(lake, "mice"))
    mice = load_project_schema("mice", context=Context(lake, "mice"))
    query = (mice.Subject & 'subject_name LIKE "JC17%"' & Not({"subject_name": "JC171"})).aggr(
        mice.Session * mice.Subject.proj(sex="subject_sex"), n="count(*)", last="max(session_datetime)") \
        & "n > 3"
    expected = query.fetch(as_dict=True)
    assert [row["subject_name"] for row in expected] == [f"JC{n}" for n in range(172, 180)]
    spec = {"kind": lakes.kind, "root": str(lakes.root), "dsn": lakes.dsn, "metadata_schema": lakes.metadata_schema}
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        rows = pool.apply(workers.run_pickled_query, (spec, "mice", pickle.dumps(query)))
    assert rows == expected
