"""Inserts skip reading parents they know exist; that knowledge never outlives a change."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from labdata.catalog import Context, use
from labdata.core.errors import DuplicateError, MissingParentError
from labdata.schema import Dataset, Session, Subject

WORKERS = Path(__file__).with_name("workers.py")


def session(name: str, subject: str = "JC178") -> dict[str, str]:
    return dict(subject_name=subject, session_name=name, session_datetime="2024-01-01")


def test_parents_checked_once_are_known_until_someone_else_writes(lakes, people, subject_row) -> None:
    lake = people.lake
    Subject.insert1(subject_row())
    Session.insert1(session("a"))
    with lake.transaction():  # writers are serialised (file lock or guard row): the lake may trust this
        assert lake.knows(people.qualified("data", "subject"), {("JC178",)})
    spec = json.dumps({"kind": lakes.kind, "root": str(lake.root), "dsn": lakes.dsn,
                       "metadata_schema": lakes.metadata_schema})
    subprocess.run([sys.executable, str(WORKERS), "delete_subject", spec, json.dumps("JC178")], check=True,
                   timeout=120)
    with pytest.raises(MissingParentError, match="JC178"):  # another process deleted the subject
        Session.insert1(session("b"))
    assert len(Session()) == 0


def test_a_delete_here_forgets_known_parents(people, subject_row) -> None:
    Subject.insert1(subject_row())
    Session.insert1(session("a"))
    (Subject & {"subject_name": "JC178"}).delete()
    with pytest.raises(MissingParentError):
        Session.insert1(session("b"))


def test_a_rolled_back_insert_is_not_remembered(people, subject_row) -> None:
    with pytest.raises(MissingParentError), people.lake.transaction():
        Subject.insert1(subject_row("GHOST"))
        Dataset.insert1(dict(subject_name="GHOST", session_name="missing", dataset_name="d"))
    with pytest.raises(MissingParentError, match="GHOST"):
        Session.insert1(session("a", subject="GHOST"))


def test_a_second_handle_in_the_same_process_is_seen(lakes, people, subject_row) -> None:
    Subject.insert1(subject_row())
    Session.insert1(session("a"))
    with use(Context(lakes.open(), people.project)):
        (Subject & {"subject_name": "JC178"}).delete()
    with pytest.raises(MissingParentError):
        Session.insert1(session("b"))


def test_raw_sql_inside_a_transaction_makes_the_lake_forget(people, subject_row) -> None:
    Subject.insert1(subject_row())
    Session.insert1(session("a"))
    subjects = people.qualified("data", "subject")
    with people.lake.transaction():
        people.lake.execute(f"DELETE FROM {people.qualified('data', 'session')}")
        people.lake.execute(f"DELETE FROM {subjects}")
    with pytest.raises(MissingParentError):
        Session.insert1(session("b"))


def test_known_keys_still_catch_duplicates(people, subject_row) -> None:
    Subject.insert1(subject_row())
    Session.insert1(session("a"))
    Session.insert1(session("b"))
    with pytest.raises(DuplicateError, match="'a'"):
        Session.insert([session("c"), session("a")])
    assert Session.insert([session("a"), session("d")], skip_duplicates=True) == 1
    assert sorted(Session.fetch("session_name")) == ["a", "b", "d"]
