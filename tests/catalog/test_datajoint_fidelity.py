"""DataJoint 0.14 fidelity: values, algebra, headings, types, deletes and populate behave as
DataJoint 0.14.10 does (each behaviour was checked against DataJoint on MySQL)."""

from __future__ import annotations

import decimal
import uuid

import numpy as np
import pytest
from fidelity_tables import Animal, Typed, Visit

from labdata.catalog import Not
from labdata.catalog.engine.context import Context, use
from labdata.catalog.expr.predicates import Top
from labdata.catalog.tables.query import U
from labdata.core.errors import DuplicateError, QueryError, WrongTypeError
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
