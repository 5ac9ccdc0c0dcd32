"""Inserting rows: containers, coercion, defaults, keys, references, blobs, and bad input."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from catalog_kinds import sqlite_only
from labdata.core.errors import (
    DataError,
    DuplicateError,
    LabdataError,
    MissingAttributeError,
    MissingParentError,
    NotAllowedError,
    UnknownAttributeError,
    ValueTooLongError,
    WrongTypeError,
)
from labdata.schema import (
    Dataset,
    DatasetEvents,
    EphysRecording,
    LabMember,
    ProbeConfiguration,
    Procedure,
    Session,
    SpikeSorting,
    StreamSync,
    Subject,
    UploadJob,
)

HOSTILE = [
    "it's \"quoted\"",
    "back\\slash\\\\n",
    "x'; DROP TABLE session; --",
    "Ünïcödé 日本語 🐭",
    "tab\tnew\nline",
    "%_ LIKE wildcards",
]


@sqlite_only
def test_insert_accepts_every_container(people, subject_row) -> None:
    Subject.insert1(subject_row("A"))
    Subject.insert([subject_row("B"), subject_row("C")])
    Subject.insert(pd.DataFrame([subject_row("D")]))
    Subject.insert(pa.Table.from_pylist([subject_row("E")]))
    Subject.insert1(("F", dt.date(2023, 1, 2), "F", "C57BL/6J", "couto"))
    records = Subject.fetch(order_by="subject_name")
    Session.insert(pd.DataFrame([dict(subject_name="A", session_name="s1", session_datetime="2024-01-01 10:00")]))
    assert list(records["subject_name"]) == ["A", "B", "C", "D", "E", "F"]
    assert len(Session()) == 1


@sqlite_only
def test_values_are_coerced_and_defaults_filled(people, subject_row) -> None:
    Subject.insert1(subject_row(subject_dob=dt.datetime(2023, 5, 6, 7, 8)))
    LabMember.insert1(dict(user_name=12345, date_joined="2020-02-02"))  # an integer into a varchar
    member = (LabMember & {"user_name": "12345"}).fetch1()
    assert member["is_active"] is True or member["is_active"] == 1
    assert member["email"] is None
    assert (Subject & {"subject_name": "JC178"}).fetch1("subject_dob") == dt.date(2023, 5, 6)


@sqlite_only
def test_integers_into_varchar_event_names_as_in_the_seeds(people, subject_row) -> None:
    Subject.insert1(subject_row())
    key = dict(subject_name="JC178", session_name="s1", dataset_name="ephys")
    Session.insert1(dict(subject_name="JC178", session_name="s1", session_datetime="2024-01-01 10:00"))
    Dataset.insert1(key)
    DatasetEvents.insert1(key | dict(stream_name="imec0"), allow_direct_insert=True)
    DatasetEvents.insert1(key | dict(stream_name="nidq"), allow_direct_insert=True)
    DatasetEvents.Digital.insert([key | dict(stream_name="imec0", event_name=6),
                                  key | dict(stream_name="nidq", event_name=7)], allow_direct_insert=True)
    StreamSync().insert1(key | dict(stream_name="imec0", event_name=6, clock_dataset="ephys",
                                    clock_stream="nidq", clock_stream_event=7))
    assert StreamSync.fetch1("event_name", "clock_stream_event") == ("6", "7")


def test_skip_duplicates_and_replace(people, subject_row) -> None:
    Subject.insert1(subject_row())
    assert Subject.insert1(subject_row(), skip_duplicates=True) == 0
    Subject.insert1(subject_row(subject_sex="F"), replace=True)
    assert Subject.fetch1("subject_sex") == "F"
    assert Subject.insert([subject_row(), subject_row("B")], skip_duplicates=True) == 1
    assert len(Subject()) == 2


@sqlite_only
def test_ignore_extra_fields(people, subject_row) -> None:
    Subject.insert1(subject_row(favourite_food="cheese"), ignore_extra_fields=True)
    assert len(Subject()) == 1


@sqlite_only
def test_imported_and_computed_tables_refuse_direct_inserts(people, subject_row) -> None:
    Subject.insert1(subject_row())
    Session.insert1(dict(subject_name="JC178", session_name="s1", session_datetime="2024-01-01 10:00"))
    Dataset.insert1(dict(subject_name="JC178", session_name="s1", dataset_name="ephys"))
    row = dict(subject_name="JC178", session_name="s1", dataset_name="ephys", n_probes=1,
               recording_duration=10.0, recording_software="spikeglx")
    with pytest.raises(NotAllowedError, match="populate"):
        EphysRecording.insert1(row)
    EphysRecording.insert1(row, allow_direct_insert=True)
    assert len(EphysRecording()) == 1


def test_autoincrement_ids(people) -> None:
    UploadJob.insert1(dict(job_status="ON SERVER"))
    UploadJob.insert([dict(job_status="ON SERVER"), dict(job_status="WORKING")])
    assert sorted(UploadJob.fetch("job_id")) == [1, 2, 3]


def test_blobs_round_trip_small_inline_and_large_in_zarr(people, subject_row, context) -> None:
    from labdata.schema import Probe

    Probe.insert1(dict(probe_id="18005116482", probe_type="0", probe_n_shanks=1, probe_recording_channels=384))
    coords = np.column_stack([np.tile([16.0, 48.0], 192), np.repeat(np.arange(192) * 20.0, 2)])
    ProbeConfiguration.insert1(dict(probe_id="18005116482", configuration_id=1, probe_n_channels=384,
                                    probe_gain=2.34375, channel_idx=np.arange(384), channel_shank=np.zeros(384),
                                    channel_coords=coords))
    stored = (ProbeConfiguration & {"configuration_id": 1}).fetch1()
    np.testing.assert_array_equal(stored["channel_coords"], coords)
    assert stored["channel_coords"].shape == (384, 2)
    metadata = {"virus": "AAV-GCaMP", "coordinates": [1.5, -2.0], "volume_nl": 200}
    Subject.insert1(subject_row())
    Procedure.insert1(dict(subject_name="JC178", procedure_type="injection",
                           procedure_datetime="2024-01-01 10:00:00", user_name="couto",
                           procedure_metadata=metadata))
    assert Procedure.fetch1("procedure_metadata") == metadata
    trains = [np.sort(np.random.default_rng(i).integers(0, 10**9, 20_000)).astype(np.uint64) for i in range(3)]
    _insert_units(trains)
    units = SpikeSorting.Unit.fetch(as_dict=True, order_by="unit_id")
    for unit, train in zip(units, trains, strict=True):
        np.testing.assert_array_equal(unit["spike_times"], train)
        assert unit["spike_times"].dtype == np.uint64
    assert list((context.lake.root / "catalog" / "arrays").rglob("*.zarr")), "large arrays go to Zarr"


def _insert_units(trains: list[np.ndarray]) -> None:
    from labdata.schema import SpikeSortingParams

    key = dict(subject_name="JC178", session_name="s1", dataset_name="ephys")
    Session.insert1(dict(subject_name="JC178", session_name="s1", session_datetime="2024-01-01 10:00"))
    Dataset.insert1(key)
    EphysRecording.insert1(key | dict(n_probes=1, recording_duration=60.0, recording_software="spikeglx"),
                           allow_direct_insert=True)
    EphysRecording.ProbeSetting.insert1(key | dict(probe_num=0, probe_id="18005116482", configuration_id=1,
                                                   sampling_rate=30000.0), allow_direct_insert=True)
    SpikeSortingParams.insert1(dict(parameter_set_num=5, algorithm_name="si_kilosort4", parameters_dict="{}"))
    SpikeSorting.insert1(key | dict(probe_num=0, parameter_set_num=5))
    SpikeSorting.Unit.insert([key | dict(probe_num=0, parameter_set_num=5, unit_id=i, spike_times=t)
                              for i, t in enumerate(trains)])


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_strings_are_stored_verbatim(people, subject_row, text) -> None:
    Subject.insert1(subject_row())
    Session.insert1(dict(subject_name="JC178", session_name=text[:54], session_datetime="2024-01-01"))
    assert Session.fetch1("session_name") == text[:54]
    assert (Session & {"session_name": text[:54]}).fetch1("session_name") == text[:54]
    assert len(Subject()) == 1, "nothing was dropped"


BAD_SESSIONS = [
    pytest.param(dict(subject_name="nobody", session_name="s", session_datetime="2024-01-01"), MissingParentError,
                 "does not exist", id="missing-parent"),
    pytest.param(dict(subject_name="JC178", session_name="s", session_datetime="yesterday"), WrongTypeError,
                 "datetime", id="wrong-type"),
    pytest.param(dict(subject_name="JC178", session_name="existing", session_datetime="2024-01-01"), DuplicateError,
                 "already has", id="duplicate"),
    pytest.param(dict(subject_name="JC178", session_name="s", session_datetime="2024-01-01",
                      sesion_datetime="2024-01-01"),
                 UnknownAttributeError, "Did you mean 'session_datetime'", id="unknown-attribute"),
    pytest.param(dict(subject_name="JC178", session_name="x" * 55, session_datetime="2024-01-01"), ValueTooLongError,
                 "varchar\\(54\\)", id="too-long"),
    pytest.param(dict(subject_name="JC178", session_name="nul\x00byte", session_datetime="2024-01-01"), WrongTypeError,
                 "NUL", id="nul-byte"),
    pytest.param(dict(subject_name="JC178", session_datetime="2024-01-01"), MissingAttributeError,
                 "session_name", id="missing-attribute"),
    pytest.param(dict(subject_name="JC178", session_name="s", session_datetime="2024-01-01", experimenter="ghost"),
                 MissingParentError,
                 "LabMember", id="missing-renamed-parent"),
]


@sqlite_only
@pytest.mark.parametrize(("row", "error", "message"), BAD_SESSIONS)
def test_bad_rows_raise_and_write_nothing(people, subject_row, context, row, error, message) -> None:
    Subject.insert1(subject_row())
    Session.insert1(dict(subject_name="JC178", session_name="existing", session_datetime="2024-01-01"))
    before = context.lake.current_snapshot()
    good = dict(subject_name="JC178", session_name="good-row-in-the-same-batch", session_datetime="2024-01-01")
    with pytest.raises(error, match=message) as raised:
        Session.insert([good, row])
    assert isinstance(raised.value, LabdataError) and raised.value.hint
    assert len(Session()) == 1
    assert context.lake.current_snapshot() == before, "no snapshot was committed"


@sqlite_only
def test_bad_containers(people) -> None:
    with pytest.raises(DataError):
        Subject.insert("JC178")
    with pytest.raises(DataError, match="attributes"):
        Subject.insert1(("only", "three", "values"))


@sqlite_only
def test_enum_and_integer_ranges(people, subject_row) -> None:
    with pytest.raises(WrongTypeError, match="one of"):
        Subject.insert1(subject_row(subject_sex="X"))
    with pytest.raises(WrongTypeError, match="outside"):
        UploadJob.insert1(dict(job_id=1, job_waiting=1000))


def test_update1_changes_secondary_attributes_only(people, subject_row) -> None:
    Subject.insert1(subject_row())
    Subject.update1(dict(subject_name="JC178", subject_sex="U"))
    assert Subject.fetch1("subject_sex") == "U"
    with pytest.raises(MissingParentError):
        Subject.update1(dict(subject_name="JC178", user_name="ghost"))
    with pytest.raises(DataError, match="no row"):
        Subject.update1(dict(subject_name="nobody", subject_sex="F"))
    with pytest.raises(DataError, match="primary key"):
        Subject.update1(dict(subject_sex="F"))
    assert Subject.fetch1("user_name") == "couto"


def test_multi_table_transaction_is_all_or_nothing(people, subject_row, context) -> None:
    with pytest.raises(MissingParentError), context.lake.transaction():
        Subject.insert1(subject_row())
        Session.insert1(dict(subject_name="JC178", session_name="s1", session_datetime="2024-01-01 10:00"))
        Dataset.insert1(dict(subject_name="JC178", session_name="s1", dataset_name="d", dataset_type="nope"))
    assert len(Subject()) == 0 and len(Session()) == 0
