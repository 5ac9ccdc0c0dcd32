"""Cascading deletes, dry runs, and time travel to snapshots before a delete."""

from __future__ import annotations

import time

import pytest

from catalog_kinds import sqlite_only
from labdata.catalog import Context, use
from labdata.core.errors import CatalogError, MissingParentError
from labdata.schema import (
    Dataset,
    DatasetEvents,
    File,
    LabMember,
    Session,
    StreamSync,
    Subject,
    load_project_schema,
)


@pytest.fixture
def filled(people, subject_row):
    """Two subjects, three sessions, datasets with files, events and a stream sync."""
    Subject.insert([subject_row("JC178"), subject_row("JC179")])
    Session.insert([dict(subject_name=s, session_name=n, session_datetime="2024-01-01")
                    for s, n in (("JC178", "a"), ("JC178", "b"), ("JC179", "a"))])
    datasets = [dict(subject_name=s, session_name=n, dataset_name="ephys")
                for s, n in (("JC178", "a"), ("JC178", "b"), ("JC179", "a"))]
    Dataset.insert(datasets)
    File.insert([dict(file_path=f"{d['subject_name']}/{d['session_name']}/ephys/x.bin", file_datetime="2024-01-01",
                      file_size=10.0) for d in datasets])
    Dataset.DataFiles.insert([d | dict(file_path=f"{d['subject_name']}/{d['session_name']}/ephys/x.bin",
                                       storage="data") for d in datasets])
    key = datasets[0]
    DatasetEvents.insert([key | dict(stream_name=s) for s in ("imec0", "nidq")], allow_direct_insert=True)
    DatasetEvents.Digital.insert([key | dict(stream_name="imec0", event_name="6"),
                                  key | dict(stream_name="nidq", event_name="7")], allow_direct_insert=True)
    StreamSync.insert1(key | dict(stream_name="imec0", event_name="6", clock_dataset="ephys",
                                  clock_stream="nidq", clock_stream_event="7"))
    return people


def test_delete_cascades_to_every_descendant(filled) -> None:
    expected = {"test_project.subject": 1, "test_project.session": 2, "test_project.dataset": 2,
                "test_project.dataset__data_files": 2, "test_project.dataset_events": 2,
                "test_project.dataset_events__digital": 2, "test_project_computed.stream_sync": 1}
    restriction = Subject & {"subject_name": "JC178"}
    assert restriction.delete(dry_run=True) == expected
    assert len(Session()) == 3, "a dry run deletes nothing"
    assert restriction.delete() == expected
    assert len(Session()) == 1 and len(Dataset.DataFiles()) == 1 and len(StreamSync()) == 0
    assert len(File()) == 3, "parents are never deleted"


@sqlite_only
def test_delete_of_a_clock_event_removes_the_sync_referring_to_it(filled) -> None:
    counts = (DatasetEvents.Digital & {"stream_name": "nidq"}).delete(force_parts=True)  # a part alone
    assert counts["test_project_computed.stream_sync"] == 1
    assert len(DatasetEvents.Digital()) == 1


@sqlite_only
def test_lab_wide_delete_cascades_into_every_project(filled, context) -> None:
    other = load_project_schema("other_project")
    other.Subject.insert1(dict(subject_name="OT1", subject_dob="2023-01-01", subject_sex="F",
                               strain_name="C57BL/6J", user_name="couto"))
    LabMember.insert1(dict(user_name="leaver", date_joined="2020-01-01"))
    counts = (LabMember & {"user_name": "couto"}).delete(dry_run=True)
    assert counts["other_project.subject"] == 1
    assert counts["test_project.subject"] == 2
    (LabMember & {"user_name": "couto"}).delete()
    assert len(other.Subject()) == 0 and len(Subject()) == 0
    assert LabMember.fetch1("user_name") == "leaver"


@sqlite_only
def test_projects_are_separate(filled) -> None:
    other = load_project_schema("other_project")
    assert len(other.Session()) == 0
    with pytest.raises(MissingParentError, match="JC178"):  # JC178 is a subject of test_project only
        other.Session.insert1(dict(subject_name="JC178", session_name="z", session_datetime="2024-01-01"))
    assert len(other.LabMember()) == 1, "lab-wide tables are shared"
    assert len(Session()) == 3


def test_snapshot_before_a_delete_still_shows_the_rows(filled, context) -> None:
    before = context.lake.current_snapshot()
    moment = context.lake.snapshots()["snapshot_time"].iloc[-1]
    time.sleep(0.05)
    (Session & {"session_name": "b"}).delete()
    assert len(Session()) == 2
    for past in (context.lake.at(version=before), context.lake.at(timestamp=moment)):
        with use(Context(past, "test_project")):
            assert len(Session()) == 3
            assert len(Session & {"session_name": "b"}) == 1
            with pytest.raises(CatalogError, match="read-only"):
                Session.insert1(dict(subject_name="JC179", session_name="new", session_datetime="2024-01-01"))
        past.close()
    history = context.lake.snapshots()
    assert history["snapshot_id"].is_monotonic_increasing and len(history) > 5


@sqlite_only
def test_time_travel_needs_exactly_one_of_version_and_timestamp(context) -> None:
    with pytest.raises(CatalogError, match="exactly one"):
        context.lake.at()
