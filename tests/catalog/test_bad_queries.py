"""A corpus of bad queries: each raises a LabdataError with a hint, through the API and the CLI.

Bad dates, unknown functions, wrong aggregates, unknown attributes, MySQL's bitwise ``&``,
unbalanced quotes, hostile strings and wrong types in dicts never reach users as DuckDB's
exceptions or as a traceback; nothing they do changes the lake.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from labdata.catalog import Context, Lake, use
from labdata.cli.main import main
from labdata.core.errors import LabdataError
from labdata.schema import LabMember, Session, Species, Strain, Subject, dj

PROJECT = "mice"

#: restrictions of Subject that must be refused: (name, restriction, text expected in the message)
SUBJECT_RESTRICTIONS: list[tuple[str, Any, str]] = [
    ("bad date", 'subject_dob > "notadate"', "is a date"),
    ("bad date mirrored", '"31/12/2024" < subject_dob', "is a date"),
    ("unknown attribute", 'subjet_name = "JC1"', "Did you mean 'subject_name'"),
    ("bitwise and", 'subject_sex = "M" & strain_name = "x"', "bitwise"),
    ("bitwise or", 'subject_sex = "M" | subject_sex = "F"', "bitwise"),
    ("unbalanced double quote", 'subject_name = "JC1', "Cannot parse"),
    ("unbalanced single quote", "subject_name = 'JC1", "Cannot parse"),
    ("unbalanced parenthesis", '(subject_name = "JC1"', "Cannot parse"),
    ("statement injection", 'subject_name = "x"; DROP TABLE subject', "not a statement"),
    ("a statement", "DROP TABLE subject", "not a statement"),
    ("union injection", '1=1 UNION SELECT * FROM lab.file', "not a statement"),
    ("subquery", "subject_name IN (SELECT user_name FROM lab_member)", "Subqueries"),
    ("unknown function", "sleep(10) = 0", "Unknown function 'sleep'"),
    ("wrong argument type", "abs(subject_name) > 1", "abs() cannot take text"),
    ("dict: bad date", {"subject_dob": "notadate"}, "subject_dob"),
    ("dict: number for a date", {"subject_dob": 3.5}, "subject_dob"),
    ("dict: list for a string", {"subject_name": ["a", "b"]}, "subject_name"),
    ("dict: unknown enum value", {"subject_sex": "X"}, "subject_sex"),
    ("dict: text for a date of a join", {"subject_dob": "yesterday", "user_name": "couto"}, "subject_dob"),
]

#: other misuses of the API: (name, what to run, text expected in the message)
API_CASES: list[tuple[str, Callable[[], Any], str]] = [
    ("unknown function in proj", lambda: Subject.proj(x="frobnicate(subject_dob)").fetch(), "frobnicate"),
    ("sum of text", lambda: Subject.aggr(Session, n="sum(subject_name)").fetch(), "sum() cannot take text"),
    ("avg of text", lambda: Subject.aggr(Session, n="avg(session_name)").fetch(), "avg() cannot take text"),
    ("aggr without attributes", lambda: Subject.aggr(Session), "computed attribute"),
    ("unparsable aggregate", lambda: Subject.aggr(Session, n="count(").fetch(), "Cannot parse"),
    ("unknown attribute in a join", lambda: Session * Subject & "nope > 1", "Unknown attribute 'nope'"),
    ("unknown attribute in proj", lambda: Subject.proj("nosuch"), "no attribute 'nosuch'"),
    ("unknown attribute in fetch", lambda: Subject.fetch("subject_nam"), "Did you mean 'subject_name'"),
    ("bad order_by", lambda: Subject.fetch(order_by="subject_name SIDEWAYS"), "Cannot order by"),
    ("restriction by a number", lambda: Subject & 42, "Cannot restrict by a int"),
    ("restriction by an object", lambda: Subject & object(), "Cannot restrict by a object"),
    ("fetch1 of no row", lambda: (Subject & 'subject_name = "nobody"').fetch1(), "exactly one row"),
    ("union of different headings", lambda: (Subject + Session).fetch(), "same primary key"),
    ("U of an unknown attribute", lambda: (dj.U("nosuch") & Subject).fetch(), "nosuch"),
    ("unknown fetch format", lambda: Subject.fetch(format="xml"), "Unknown fetch format"),
]

#: SQL the CLI's ``labdata sql`` refuses or cannot run
SQL_CASES = [
    ("unknown table", "SELECT * FROM nosuch"),
    ("unknown function", "SELECT frobnicate(1)"),
    ("syntax error", "SELEC 1"),
    ("write", "DELETE FROM session"),
    ("two statements", "SELECT 1; DROP TABLE subject"),
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    lake = Lake("sqlite", tmp_path_factory.mktemp("bad") / "lake")
    with use(Context(lake, PROJECT)):
        LabMember.insert1(dict(user_name="couto", date_joined="2019-09-01"))
        Species.insert1(dict(species_name="mouse", species_scientific_name="Mus musculus"))
        Strain.insert1(dict(strain_name="C57BL/6J", species_name="mouse"))
        Subject.insert1(dict(subject_name="JC1", subject_dob="2023-01-01", subject_sex="M",
                             strain_name="C57BL/6J", user_name="couto"))
        Session.insert1(dict(subject_name="JC1", session_name="s1", session_datetime="2024-01-01 10:00:00"))
    yield lake
    lake.close()


@pytest.fixture
def current(lab: Lake) -> Iterator[Lake]:
    before = lab.current_snapshot()
    with use(Context(lab, PROJECT)):
        yield lab
    assert lab.current_snapshot() == before, "a bad query changed the lake"


def _raises_with_hint(run: Callable[[], Any], expected: str) -> None:
    with pytest.raises(LabdataError) as caught:
        run()
    assert caught.value.hint, f"no hint for: {caught.value}"
    assert expected in str(caught.value), str(caught.value)
    assert "duckdb" not in type(caught.value).__module__


@pytest.mark.parametrize(("name", "restriction", "expected"), SUBJECT_RESTRICTIONS,
                         ids=[case[0] for case in SUBJECT_RESTRICTIONS])
def test_bad_restrictions_raise_a_labdata_error_with_a_hint(current, name, restriction, expected) -> None:
    _raises_with_hint(lambda: (Subject & restriction).fetch(), expected)
    _raises_with_hint(lambda: (Subject * Session - Session.proj() & restriction).fetch(), expected)


@pytest.mark.parametrize(("name", "run", "expected"), API_CASES, ids=[case[0] for case in API_CASES])
def test_bad_api_calls_raise_a_labdata_error_with_a_hint(current, name, run, expected) -> None:
    _raises_with_hint(run, expected)


def test_the_corpus_is_large_enough() -> None:
    assert len(SUBJECT_RESTRICTIONS) + len(API_CASES) + len(SQL_CASES) >= 25


def _cli(lab: Lake, *args: str) -> Any:
    return CliRunner().invoke(main, [*args, "--path", str(lab.root), "-p", PROJECT])


def _refused(result: Any) -> None:
    assert result.exit_code == 1, result.output
    assert "Error:" in result.output and "hint:" in result.output, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)


@pytest.mark.parametrize(("name", "restriction", "expected"), SUBJECT_RESTRICTIONS,
                         ids=[case[0] for case in SUBJECT_RESTRICTIONS])
def test_the_cli_prints_message_and_hint_for_bad_restrictions(lab, name, restriction, expected) -> None:
    text = json.dumps(restriction) if isinstance(restriction, dict) else restriction
    before = lab.current_snapshot()
    result = _cli(lab, "subjects", "-r", text)
    _refused(result)
    assert expected in result.output
    if not isinstance(restriction, dict):  # (dicts: Session ignores Subject's attributes, as in DataJoint)
        result = _cli(lab, "sessions", "-r", text.replace("subject_dob", "session_datetime"))
        _refused(result)
    assert lab.current_snapshot() == before


@pytest.mark.parametrize(("name", "statement"), SQL_CASES, ids=[case[0] for case in SQL_CASES])
def test_the_cli_prints_message_and_hint_for_bad_sql(lab, name, statement) -> None:
    before = lab.current_snapshot()
    _refused(_cli(lab, "sql", statement))
    assert lab.current_snapshot() == before


def test_a_good_restriction_through_the_cli(lab) -> None:
    result = _cli(lab, "sessions", "-r", 'session_datetime > "2023-12-31"', "-r", '{"subject_name": "JC1"}')
    assert result.exit_code == 0, result.output
    assert "JC1: 1 sessions" in result.output
    result = _cli(lab, "subjects", "-r", 'subject_dob < "2024-01-01"')
    assert result.exit_code == 0 and "JC1" in result.output, result.output
