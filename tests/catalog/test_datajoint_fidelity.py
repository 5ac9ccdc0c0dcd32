"""DataJoint 0.14 fidelity: values, algebra, headings, types, deletes and populate behave as
DataJoint 0.14.10 does (each behaviour was checked against DataJoint on MySQL)."""

from __future__ import annotations

import decimal
import signal
import uuid

import numpy as np
import pytest
from fidelity_tables import CALLS, Animal, AnimalScore, Probe, Recording, Typed, Visit

from labdata.catalog import Not
from labdata.catalog.engine.context import Context, use
from labdata.catalog.expr.predicates import Top
from labdata.catalog.populate.jobs import JobTable, PopulateJob
from labdata.catalog.tables.query import U
from labdata.core.errors import (
    DuplicateError,
    IntegrityError,
    QueryError,
    UnknownAttributeError,
    WrongTypeError,
)
from labdata.schema import dj


@pytest.fixture
def zoo(sqlite_lake):
    with use(Context(sqlite_lake, "fidelity")) as context:
        Animal.insert([dict(animal_id=1, sex="U", weight=0.1, height=2.0, info=[1, 2, 3]),
                       dict(animal_id=2, sex="M", weight=None, height=None, info={"a": [1, 2]}),
                       dict(animal_id=3, sex="F", weight=2.25, height=1.0, info=None)])
        Visit.insert([dict(animal_id=1, visit=1, weight=1.0), dict(animal_id=1, visit=2, weight=None),
                      dict(animal_id=2, visit=1, weight=3.0)])
        Visit.Sample.insert([dict(animal_id=1, visit=1, sample=1, amount=0.5)])
        yield context


# ---- 1. values come back as DataJoint returns them ---------------------------------------
def test_floats_are_float64_with_nan_for_null(zoo) -> None:
    records = Animal.fetch()
    assert records.dtype["weight"] == np.float64 and records.dtype["animal_id"] == np.int64
    assert records["weight"][0] == 0.1 and np.isnan(records["weight"][1])
    weights = Animal.fetch("weight")
    assert weights.dtype == np.float64 and np.isnan(weights[1])
    assert Animal.fetch(format="frame")["weight"].dtype == np.float64
    assert Animal.fetch(as_dict=True)[1]["weight"] is None  # dicts keep None, as DataJoint's
    assert (Animal & "animal_id = 1").fetch1("weight") == 0.1  # a 4-byte float, shown as stored


def test_lists_in_blobs_come_back_as_lists(zoo) -> None:
    assert (Animal & "animal_id = 1").fetch1("info") == [1, 2, 3]
    assert isinstance((Animal & "animal_id = 1").fetch1("info"), list)


def test_enums_sort_in_declaration_order(zoo) -> None:
    assert list(Animal.fetch("sex", order_by="sex")) == ["M", "F", "U"]
    assert list(Animal.fetch("sex", order_by="sex DESC")) == ["U", "F", "M"]
    assert [r["animal_id"] for r in Animal.fetch(as_dict=True, order_by="sex")] == [2, 3, 1]


# ---- 2. restricting by a fetched DataFrame ------------------------------------------------
def test_a_fetched_frame_restricts_by_its_rows(zoo) -> None:
    frame = (Visit & "weight > 0").fetch(format="frame")
    assert list(frame.index.names) == ["animal_id", "visit"]
    assert sorted((Visit & frame).fetch("KEY"), key=lambda k: (k["animal_id"], k["visit"])) == \
        [{"animal_id": 1, "visit": 1}, {"animal_id": 2, "visit": 1}]
    assert (Visit - frame).fetch("KEY") == [{"animal_id": 1, "visit": 2}]
    assert len(Visit.Sample & frame) == 1  # restricted by the attributes it shares


# ---- 3. algebra: dj.U, unions, proj/aggr with ..., join, @, ^, Top ----------------------------
def test_join_refuses_shared_secondary_attributes_unless_permissive(zoo) -> None:
    for refused in (lambda: Animal * Visit, lambda: Animal.join(Visit), lambda: Animal & Visit,
                    lambda: Animal - Visit, lambda: Animal.aggr(Visit, n="count(*)")):
        with pytest.raises(QueryError, match="dependent attribute `weight`"):
            refused()
    joined = Animal @ Visit
    assert joined.heading.names == ("animal_id", "visit", "sex", "weight", "height", "info", "note")
    assert len(joined) == 0 and len(Animal.join(Visit, semantic_check=False)) == 0  # weights differ
    assert len(Animal ^ Visit) == 0 and len(Animal ^ Not(Visit)) == 3
    assert len(Animal * Visit.proj()) == 3 and len(Animal & Visit.proj()) == 2


def test_universal_sets_in_joins_restrictions_and_aggregations(zoo) -> None:
    joined = U("sex") * Animal
    assert joined.primary_key == ("animal_id", "sex") and len(joined) == 3
    assert len(Animal & U("sex")) == 3  # restricting by U keeps every row
    assert sorted((U("sex") & Animal).fetch("sex")) == ["F", "M", "U"]
    assert U().aggr(Visit, n="count(*)").fetch1("n") == 3
    assert (U("visit") * Visit.proj()).primary_key == ("animal_id", "visit")


def test_unions_follow_datajoint(zoo) -> None:
    with pytest.raises(QueryError, match="must share the same primary key"):
        Animal + Visit
    with pytest.raises(QueryError, match="must not share any secondary attributes"):
        Animal.proj("sex", "weight") + Animal.proj("weight")
    outer = (Animal & "animal_id = 1").proj("sex") + (Animal & "animal_id > 1").proj("height")
    assert outer.heading.names == ("animal_id", "sex", "height")
    assert outer.fetch(as_dict=True) == [{"animal_id": 1, "sex": "U", "height": None},
                                         {"animal_id": 2, "sex": None, "height": None},
                                         {"animal_id": 3, "sex": None, "height": 1.0}]


def test_proj_and_aggr_keep_datajoint_heading_order(zoo) -> None:
    assert Visit.proj(..., w2="weight").heading.names == ("animal_id", "visit", "w2", "note")
    assert Animal.proj(w="weight", s="sex").heading.names == ("animal_id", "s", "w")
    counted = Animal.aggr(Visit.proj(vw="weight"), ..., n="count(*)")
    assert counted.heading.names == ("animal_id", "sex", "weight", "height", "info", "n")
    assert counted.fetch("n").tolist() == [2, 1]


def test_top_keeps_the_first_rows_in_its_order(zoo) -> None:
    assert (Animal & Top(2, "weight DESC")).fetch("animal_id").tolist() == [3, 1]
    assert (Animal & Top(1, "animal_id", offset=1)).fetch1("animal_id") == 2
    assert len((Animal & Top(2, "sex")) & "animal_id > 2") == 1  # M (2), F (3) first, then restricted
    assert (Animal & Top()).fetch1("animal_id") == 1
    with pytest.raises(QueryError):
        Top("2")


# ---- 4. head, tail, previews, headings -------------------------------------------------------
def test_head_and_tail_fetch_in_key_order(zoo) -> None:
    head = Animal.head(2)
    assert isinstance(head, np.ndarray) and head["animal_id"].tolist() == [1, 2]
    assert Animal.tail(2)["animal_id"].tolist() == [2, 3]
    assert Animal.tail(1, as_dict=True) == [{"animal_id": 3, "sex": "F", "weight": 2.25, "height": 1.0,
                                             "info": None}]


def test_heading_is_shown_and_read_as_in_datajoint(zoo) -> None:
    heading = Animal.heading
    assert heading.secondary_attributes == ("sex", "weight", "height", "info")
    assert list(heading.attributes) == list(heading.names) and heading.attributes["sex"].in_key is False
    assert heading.attributes["weight"].sql_type == "float" and list(heading) == list(heading.names)
    assert repr(heading).splitlines() == [
        "animal_id            : int                          # ",
        "---",
        "sex=\"U\"              : enum('M', 'F', 'U')          # ",
        "weight=null          : float                        # ",
        "height=null          : double                       # ",
        "info=null            : blob                         # "]
    assert repr(Animal.proj(w="weight").heading).splitlines()[-1].startswith("w=null ")


def test_previews_honour_display_settings(zoo) -> None:
    saved = dict(dj.config)
    try:
        dj.config["display.limit"] = 1
        dj.config["display.show_tuple_count"] = False
        text = repr(Animal())
        assert text.splitlines()[-1] == "1 row shown, more not counted" and "(showing" not in text
        dj.config["display.show_tuple_count"] = True
        assert repr(Animal()).splitlines()[-1] == "3 rows (showing 1)"
    finally:
        for name in ("display.limit", "display.show_tuple_count"):
            dj.config[name] = saved[name]


# ---- 5. types: decimal, uuid, year, indexes ----------------------------------------------------
def test_decimal_uuid_and_year_values(zoo) -> None:
    token = uuid.UUID(int=5)
    Typed.insert1(dict(typed_id=1, code=3, price="1.25", token=token, born=2020))
    Typed.insert1(dict(typed_id=2, token="00000000-0000-0000-0000-000000000007"))
    row = (Typed & {"typed_id": 1}).fetch1()
    assert row["price"] == decimal.Decimal("1.250") and isinstance(row["price"], decimal.Decimal)
    assert row["token"] == token and row["born"] == 2020
    assert (Typed & {"token": uuid.UUID(int=7)}).fetch1("typed_id") == 2
    assert (Typed & {"token": "00000000-0000-0000-0000-000000000007"}).fetch1("typed_id") == 2
    assert Typed.fetch("token", order_by="typed_id").tolist() == [token, uuid.UUID(int=7)]
    with pytest.raises(WrongTypeError, match="Badly formed UUID"):
        Typed.insert1(dict(typed_id=3, token="not-a-uuid"))
    with pytest.raises(WrongTypeError, match="outside"):
        Typed.insert1(dict(typed_id=3, born=1800))


def test_unique_index_is_enforced_on_insert(zoo) -> None:
    Typed.insert([dict(typed_id=1, code=3), dict(typed_id=2), dict(typed_id=3)])  # NULLs never collide
    assert Typed.table_schema().indexes == ((True, ("code",)), (False, ("price",)))
    with pytest.raises(DuplicateError, match="unique index"):
        Typed.insert1(dict(typed_id=4, code=3))
    with pytest.raises(DuplicateError, match="unique index"):
        Typed.insert([dict(typed_id=5, code=9), dict(typed_id=6, code=9)])
    Typed.insert1(dict(typed_id=1, code=3), replace=True)  # the same row keeps its values
    Typed.insert([dict(typed_id=7, code=3), dict(typed_id=8, code=8)], skip_duplicates=True)
    assert Typed.fetch("typed_id").tolist() == [1, 2, 3, 8]


# ---- 6. delete, delete_quick, drop, parts ------------------------------------------------------
def test_parts_are_deleted_only_with_their_master(zoo) -> None:
    sample = Visit.Sample & {"animal_id": 1}
    with pytest.raises(IntegrityError, match="Cannot delete from a Part directly"):
        sample.delete(safemode=False)
    assert len(Visit.Sample()) == 1
    assert sample.delete(force=True, safemode=False) == {"fidelity.visit__sample": 1}
    Visit.Sample.insert1(dict(animal_id=1, visit=1, sample=1))
    counts = (Visit & {"animal_id": 1, "visit": 1}).delete(safemode=False)
    assert counts == {"fidelity.visit": 1, "fidelity.visit__sample": 1}


def test_force_masters_deletes_the_masters_of_cascaded_parts(sqlite_lake) -> None:
    with use(Context(sqlite_lake, "fidelity")):
        Probe.insert([dict(probe="p1"), dict(probe="p2")])
        Recording.insert([dict(rec=1), dict(rec=2)])
        Recording.Channel.insert([dict(rec=1, probe="p1", channel=0), dict(rec=2, probe="p2", channel=0)])
        with pytest.raises(IntegrityError, match="part table"):
            (Probe & {"probe": "p1"}).delete(safemode=False)
        counts = (Probe & {"probe": "p1"}).delete(safemode=False, force_masters=True)
        assert counts == {"fidelity.probe": 1, "fidelity.recording__channel": 1, "fidelity.recording": 1}
        assert Recording.fetch("rec").tolist() == [2]


def test_delete_quick_does_not_cascade(zoo) -> None:
    with pytest.raises(IntegrityError, match="refer to them"):
        (Animal & {"animal_id": 1}).delete_quick()
    assert (Animal & {"animal_id": 3}).delete_quick() == 1 and len(Animal()) == 2


def test_safemode_asks_at_a_terminal(zoo, monkeypatch) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda question: "no")
    assert (Animal & {"animal_id": 3}).delete() == {} and len(Animal()) == 3
    monkeypatch.setattr("builtins.input", lambda question: "yes")
    assert (Animal & {"animal_id": 3}).delete() == {"fidelity.animal": 1}
    dj.config["safemode"] = False
    try:
        monkeypatch.setattr("builtins.input", lambda question: pytest.fail("asked"))
        assert (Animal & {"animal_id": 2}).delete() == {"fidelity.animal": 1, "fidelity.visit": 1}
    finally:
        dj.config["safemode"] = True


def test_drop_removes_a_table_and_its_dependents(zoo) -> None:
    with pytest.raises(IntegrityError, match="Cannot drop a Part directly"):
        Visit.Sample.drop(safemode=False)
    with pytest.raises(IntegrityError, match="before dropping its master"):
        Visit.Sample.drop(force=True, safemode=False)
    with pytest.raises(QueryError, match="restriction"):
        (Visit & {"visit": 1}).drop(safemode=False)
    assert Visit.drop(safemode=False) == ["fidelity.visit", "fidelity.visit__sample"]
    assert "visit" not in zoo.lake.tables("fidelity")
    assert len(Visit()) == 0 and len(Animal()) == 3  # used again: created, empty


# ---- 7. populate -------------------------------------------------------------------------------
def test_populate_returns_datajoint_counts_and_errors(zoo) -> None:
    CALLS.clear()
    result = AnimalScore.populate(suppress_errors=True, order="reverse")
    assert result["success_count"] == 2
    assert dict(result)["error_list"] == [({"animal_id": 3}, "ValueError: no score for 3")]
    assert [animal for animal, _ in CALLS] == [3, 2, 1]
    with pytest.raises(ValueError, match="no score"):
        AnimalScore.populate()
    errors = AnimalScore.populate(suppress_errors=True, return_exception_objects=True)["error_list"]
    assert isinstance(errors[0][1], ValueError)


def test_populate_keys_and_make_kwargs(zoo) -> None:
    CALLS.clear()
    result = AnimalScore.populate(keys=[{"animal_id": 2}, {"animal_id": 1}], make_kwargs={"interrupt": "no"})
    assert result["success_count"] == 2 and CALLS == [(2, {"interrupt": "no"}), (1, {"interrupt": "no"})]
    assert AnimalScore.populate(keys=[{"animal_id": 1}])["success_count"] == 0  # made already


def test_interrupted_makes_are_recorded_in_the_jobs(zoo) -> None:
    jobs = JobTable(AnimalScore._full_name, zoo)
    with pytest.raises(KeyboardInterrupt):
        AnimalScore.populate({"animal_id": 2}, reserve_jobs=True, make_kwargs={"interrupt": "keyboard"})
    assert [e["error_message"] for e in jobs.errors()] == ["KeyboardInterrupt"]
    jobs.clear_errors()
    with pytest.raises(SystemExit, match="SIGTERM"):
        AnimalScore.populate({"animal_id": 2}, reserve_jobs=True, make_kwargs={"interrupt": "sigterm"})
    assert [e["error_message"] for e in jobs.errors()] == ["SystemExit: SIGTERM received"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is restored


# ---- 8. inserting from CSV; misnamed attributes --------------------------------------------------
def test_insert_from_a_csv_file(zoo, tmp_path) -> None:
    path = tmp_path / "visits.csv"
    path.write_text("animal_id,visit,weight,note\n3,1,2.5,first\n3,2,,\n")
    assert Visit.insert(path) == 2
    assert (Visit & {"animal_id": 3}).fetch(as_dict=True) == [
        {"animal_id": 3, "visit": 1, "weight": 2.5, "note": "first"},
        {"animal_id": 3, "visit": 2, "weight": None, "note": ""}]
    other = tmp_path / "more.csv"
    other.write_text("animal_id,visit\n3,3\n")
    assert Visit.insert(str(other)) == 1


def test_a_misnamed_attribute_names_the_closest_one(zoo) -> None:
    with pytest.raises(UnknownAttributeError, match="Attribute 'wieght' not found") as raised:
        Visit.insert1(dict(animal_id=3, visit=9, wieght=1.0))
    assert raised.value.hint.startswith("Rename 'wieght' to 'weight'")
    Visit.insert1(dict(animal_id=3, visit=9, wieght=1.0), ignore_extra_fields=True)


def test_jobs_reserve_ignore_complete_and_error(zoo) -> None:
    jobs = PopulateJob(zoo)
    name, key = AnimalScore._full_name, {"animal_id": 1}
    assert jobs.reserve(name, key) and not jobs.reserve(name, key)
    jobs.complete(name, key)
    assert jobs.ignore(name, key)
    assert AnimalScore.populate(key, reserve_jobs=True)["success_count"] == 0  # ignored
    jobs.delete()
    jobs.error(name, {"animal_id": 2}, "ValueError: bad")
    assert (jobs & {"status": "error"}).fetch1("error_message") == "ValueError: bad"
