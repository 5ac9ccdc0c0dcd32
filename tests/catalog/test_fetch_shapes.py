"""Fetched keys, text columns and record arrays keep DataJoint's shapes at any size."""

from __future__ import annotations

import json
import pickle
import random

import numpy as np
import pandas as pd
import pytest
from algebra_tables import Alpha, Beta

from labdata.catalog.engine.context import Context, use
from labdata.catalog.expr.keys import KeyList
from labdata.core.errors import QueryError

ROWS = 5000  # above the size at which text columns are decoded once per distinct string


@pytest.fixture
def filled(sqlite_lake):
    with use(Context(sqlite_lake, "shapes")):
        Alpha.insert([dict(a_id=i, x=i % 10, g=None if i % 7 == 0 else f"g{i % 3}") for i in range(ROWS)])
        Beta.insert([dict(a_id=i, b_id=j, y=float(j)) for i in range(0, ROWS, 50) for j in range(3)])
        yield sqlite_lake


def test_keys_behave_as_a_list_of_dicts(filled) -> None:
    keys = (Alpha & "x = 3").fetch("KEY")
    assert isinstance(keys, KeyList)
    expected = [{"a_id": i} for i in range(3, ROWS, 10)]
    assert len(keys) == len(expected) and keys == expected and list(keys) == expected
    assert keys[0] == {"a_id": 3} and keys[-1] == expected[-1]
    assert keys[2:5] == expected[2:5] and keys[::100] == expected[::100]
    assert {"a_id": 13} in keys and {"a_id": 14} not in keys
    with pytest.raises(IndexError):
        keys[len(expected)]
    assert keys.to_pandas().a_id.tolist() == [k["a_id"] for k in expected]


def test_keys_are_a_list_for_everything_datajoint_code_does(filled) -> None:
    keys = (Alpha & "x = 3").fetch("KEY")
    expected = [{"a_id": i} for i in range(3, ROWS, 10)]
    assert isinstance(keys, list) and json.loads(json.dumps(keys)) == expected
    assert [*keys, {"a_id": 1}] == [*expected, {"a_id": 1}]
    assert pd.DataFrame(keys).a_id.tolist() == [k["a_id"] for k in expected]
    assert len(Alpha & keys[:7]) == 7  # a slice restricts through the fetched table
    shuffled = (Alpha & "x = 3").fetch("KEY")
    random.Random(1).shuffle(shuffled)
    assert shuffled != expected and sorted(shuffled, key=lambda k: k["a_id"]) == expected
    assert len(Alpha & shuffled) == len(expected)  # changed: restricts by its dicts
    shuffled.append({"a_id": 4})
    assert len(Alpha & shuffled) == len(expected) + 1 and (Alpha & shuffled[-1:]).fetch1("x") == 4
    del shuffled[:-2]
    assert shuffled[-1] == {"a_id": 4} and len(Alpha & shuffled) == 2
    assert pickle.loads(pickle.dumps(keys)) == expected


def test_restricting_by_fetched_keys_joins_them(filled) -> None:
    keys = (Alpha & "x = 0").fetch("KEY")
    assert len(Beta & keys) == len([i for i in range(0, ROWS, 50) if i % 10 == 0]) * 3
    assert len(Beta - keys) == len(Beta()) - len(Beta & keys)
    assert len(Beta & keys[:0]) == 0 and len(Beta - keys[:0]) == len(Beta())
    assert (Beta & keys[:1]).fetch("KEY") == [{"a_id": 0, "b_id": b} for b in range(3)]


def test_text_columns_and_record_arrays(filled) -> None:
    records = Alpha.fetch()
    assert isinstance(records, np.recarray) and len(records) == ROWS
    assert records.dtype["g"] == np.dtype(object) and records.dtype["a_id"] != np.dtype(object)
    assert records.g[0] is None and records.g[1] == "g1" and records.g[8] == "g2"
    names = Alpha.fetch("g")
    assert sum(g is None for g in names) == len(range(0, ROWS, 7))
    records.g[1] = "changed"  # strings are shared per distinct value, the array is still the caller's
    assert names[1] == "g1"


def test_bitwise_operators_in_a_restriction_are_refused(filled) -> None:
    with pytest.raises(QueryError, match="AND / OR"):
        len(Alpha & "x > 1 & x < 5")
