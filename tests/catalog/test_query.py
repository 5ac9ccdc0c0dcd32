"""Query semantics beyond the seed examples: edge cases, fetch formats, previews, errors, SQL."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import labdata
from labdata.catalog import AndList, Not
from labdata.catalog.tables.query import U
from labdata.core.errors import QueryError
from labdata.schema import Dataset, Session, Subject
from labdata.schema.demo import _fill


@pytest.fixture
def demo(tmp_path):
    """The demo's rows in project ``demo`` (3 subjects, 6 sessions, 12 datasets), on a SQLite lake."""
    from labdata.catalog import Context, Lake, use

    lake = Lake("sqlite", tmp_path / "lake")
    with use(Context(lake, "demo")) as context:
        _fill()
        yield context
    lake.close()


def test_datajoint_edge_semantics(demo) -> None:
    assert len(Session & []) == 0 and len(Session - []) == 6
    assert len(Session & None) == 0
    assert len(Session & AndList()) == 6 and len(Session - AndList()) == 0
    assert len(Session & True) == 6 and len(Session & False) == 0
    assert len(Session & (Session & {"subject_name": "nobody"}).proj()) == 0, "an empty query restricts to nothing"
    assert len(Session & Not({"subject_name": "JC178"})) == len(Session - {"subject_name": "JC178"}) == 4
    assert len(Session & {"not_an_attribute": 1}) == 6, "dict keys the table lacks are ignored"
    assert len(Session & [{"subject_name": "JC178"}, "subject_name = 'JC179'"]) == 4
    assert len(Session & AndList([{"subject_name": "JC178"}, 'session_name LIKE "%0304%"'])) == 1
    assert len(Session & {"subject_name": 178}) == 0, "a number never equals a text key"


def test_like_escapes_with_a_backslash_as_mysql(demo) -> None:
    Dataset.insert([dict(subject_name="JC178", session_name="20240304_103000", dataset_name=name)
                    for name in ("task_x", "taskAx")])
    assert (Dataset & "dataset_name LIKE 'task\\_%'").fetch("dataset_name").tolist() == ["task_x"]
    assert "taskAx" in (Dataset & "dataset_name NOT LIKE 'task\\_%'").fetch("dataset_name")
    assert "task_x" not in (Dataset & "dataset_name NOT LIKE 'task\\_%'").fetch("dataset_name")
    assert (Dataset & "dataset_name LIKE 'task!_%' ESCAPE '!'").fetch("dataset_name").tolist() == ["task_x"]
    assert len(Dataset & "dataset_name LIKE 'task_%'") >= 2, "an unescaped _ matches any character"


def test_operators_on_classes_and_instances_agree(demo) -> None:
    key = {"subject_name": "JC178"}
    assert (Session & key).fetch("KEY") == (Session() & key).fetch("KEY")
    assert len(Session * Dataset) == len(Session() * Dataset()) == 12
    assert (Subject & Session).fetch("KEY") == (Subject() & Session()).fetch("KEY")


def test_fetch_formats(demo) -> None:
    records = Session.fetch()
    assert isinstance(records, np.recarray) and records.dtype.names == Session.heading.names
    frame = Session.fetch(format="frame")
    assert list(frame.index.names) == ["subject_name", "session_name"] and len(frame) == 6
    names, dates = Session.fetch("session_name", "session_datetime", order_by="session_datetime DESC", limit=2)
    assert len(names) == 2 and dates[0] > dates[1]
    assert Session.fetch("KEY", limit=1, offset=1) == [dict(subject_name="JC178", session_name="20240305_113000")]
    assert isinstance(Session.to_arrow(), pa.Table) and isinstance(Session.to_pandas(), pd.DataFrame)
    assert [r["session_name"] for r in Session.head(2)] == ["20240304_103000", "20240305_113000"]
    row = (Session & {"session_name": "20240304_103000"}).fetch1()
    assert row in Session and {"subject_name": "nobody"} not in Session
    assert bool(Session) and not bool(Session & False)
    assert len(list(iter(Session & {"subject_name": "JC180"}))) == 2


def test_fetch1_errors_name_the_count(demo) -> None:
    with pytest.raises(QueryError, match="exactly one row but the query has 6"):
        Session.fetch1()
    with pytest.raises(QueryError, match="has 0"):
        (Session & {"subject_name": "nobody"}).fetch1()


def test_unknown_names_suggest_the_closest(demo) -> None:
    with pytest.raises(QueryError, match="Did you mean 'session_name'"):
        len(Session & 'sesion_name = "x"')
    with pytest.raises(QueryError, match="Did you mean 'experimenter'"):
        Session.fetch("experimentor")
    with pytest.raises(QueryError, match="Did you mean 'dataset_type'"):
        (U("datset_type") & Dataset).fetch()
    with pytest.raises(QueryError, match="Cannot drop primary-key"):
        Session.proj("-session_name")


def test_previews_and_descriptions(demo) -> None:
    text = repr(Session & {"subject_name": "JC178"})
    assert "*subject_name" in text and "JC178" in text and "2 rows" in text
    html = Session._repr_html_()
    assert "<table" in html and "<u>session_name</u>" in html
    assert Subject.describe().splitlines()[:2] == ["subject_name : varchar(20)", "---"]
    assert Session.heading.primary_key == ("subject_name", "session_name")
    with pytest.raises(QueryError, match="Did you mean 'session_name'"):
        Session & "nonsense_name = 1"


def test_compiled_sql_binds_values_and_never_pastes_them(demo) -> None:
    hostile = "x'; DROP session;--"  # fits varchar(20): it is bound, not pasted
    sql, params = (Session & {"subject_name": hostile}).compile()
    assert hostile not in sql and hostile in params.values()
    assert len(Session & {"subject_name": hostile}) == 0 and len(Session()) == 6


def test_sql_over_the_project_schemas(demo) -> None:
    frame = labdata.sql("SELECT subject_name, count(*) AS n FROM session GROUP BY ALL ORDER BY 1")
    assert frame.n.tolist() == [2, 2, 2]
    joined = labdata.sql("SELECT count(*) AS n FROM dataset JOIN lab_member ON true WHERE dataset_type = ?", ["ephys"])
    assert joined.n.iloc[0] == 6
    qualified = labdata.sql(
        "SELECT count(*) AS n FROM demo.session s JOIN lab.lab_member m ON s.experimenter = m.user_name")
    assert qualified.n.iloc[0] == 6


def test_dj_names_from_the_schema_import(demo) -> None:
    namespace: dict = {}
    exec("from labdata.schema import *", namespace)
    dj = namespace["dj"]
    assert (dj.U("dataset_type") & Dataset).fetch("dataset_type").tolist() == ["ephys", "task-training"]
    assert len(Session & dj.AndList([{"subject_name": "JC178"}])) == 2 and len(Session & dj.Not(True)) == 0
