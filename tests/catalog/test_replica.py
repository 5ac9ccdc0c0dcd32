"""The read replica answers exactly as the lake does, whoever wrote what since."""

from __future__ import annotations

import time

import pytest
from algebra_tables import Alpha, Beta
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labdata.catalog.engine.context import Context, use
from labdata.catalog.expr.predicates import Not

SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
PROJECT = "replica"


@pytest.fixture
def pair(lakes):
    """A lake with its replica and a second client of the same catalog without one."""
    served, direct = lakes.open(), lakes.open(replica=False)
    with use(Context(served, PROJECT)):
        len(Alpha())  # creates the tables
    return served, direct


def answers(lake, restriction) -> tuple:
    with use(Context(lake, PROJECT)):
        query = Alpha & restriction
        rows = query.fetch(as_dict=True)
        joined = (Alpha @ Beta - Not(restriction)).fetch("KEY")  # they share the secondary g: @ joins on it
        return rows, len(query), joined, len(Alpha.aggr(Beta.proj(), n="count(*)"))


ops = st.one_of(
    st.tuples(st.just("insert"), st.lists(st.integers(0, 40), max_size=30)),
    st.tuples(st.just("delete"), st.integers(0, 40)),
    st.tuples(st.just("update"), st.integers(0, 40)),
    st.tuples(st.just("flush"), st.none()),
    st.tuples(st.just("bulk"), st.integers(0, 3)),
)


def apply(op, served, direct) -> None:
    """One change, made by either client."""
    kind, arg = op
    writer = direct if kind in ("insert", "bulk") else served
    with use(Context(writer, PROJECT)):
        if kind == "insert":
            Alpha.insert([dict(a_id=i, x=i % 7, g=str(i % 3)) for i in set(arg)], skip_duplicates=True)
            Beta.insert([dict(a_id=i, b_id=1, y=0.5) for i in set(arg)], skip_duplicates=True)
        elif kind == "delete":
            (Alpha & f"a_id >= {arg}" & f"a_id < {arg + 5}").delete()
        elif kind == "update" and Alpha & {"a_id": arg}:
            Alpha.update1(dict(a_id=arg, x=None, g="u"))
        elif kind == "flush":
            writer.flush_inlined_data()
        elif kind == "bulk":  # more rows than a refresh patches: the copy is made again
            start = 1000 * (arg + 1)
            Alpha.insert([dict(a_id=i, x=i % 5) for i in range(start, start + 12_000)], skip_duplicates=True)


@pytest.mark.parametrize("trust_stamp", [False, True], ids=["quiet-1s", "stamp-always"])
@SETTINGS
@given(steps=st.lists(ops, min_size=1, max_size=8), threshold=st.integers(0, 7))
def test_replica_answers_as_the_lake_after_any_changes(pair, trust_stamp, steps, threshold) -> None:
    """With ``stamp-always`` the catalog-file fingerprint decides alone whether to look for changes."""
    served, direct = pair
    if trust_stamp:
        if served.replica.stamp is None:
            pytest.skip("a PostgreSQL catalog has no file fingerprint")
        served.replica.stamp.quiet_seconds, served.replica.stamp.trust_seconds = 0.02, float("inf")
    restriction = [f"x > {threshold}", {"g": "u"}]
    answers(served, restriction)  # the replica holds the tables from here on
    for op in steps:
        apply(op, served, direct)
        if trust_stamp:
            time.sleep(0.03)  # the files are quiet: the fingerprint alone says whether anything changed
        assert answers(served, restriction) == answers(direct, restriction), op
    assert ("replica", "alpha") in served.replica.tables


def test_queries_in_a_write_transaction_see_its_own_rows(pair) -> None:
    served, _ = pair
    with use(Context(served, PROJECT)):
        assert len(Alpha()) == 0
        with served.transaction():
            Alpha.insert1(dict(a_id=1, x=1))
            assert len(Alpha()) == 1
            assert (Alpha & {"a_id": 1}).fetch1("x") == 1
        assert len(Alpha()) == 1


def test_a_table_dropped_and_made_again_is_copied_again(pair) -> None:
    served, direct = pair
    with use(Context(served, PROJECT)):
        Alpha.insert1(dict(a_id=1, x=1))
        assert len(Alpha()) == 1
    direct.execute('DROP TABLE lake.replica."beta"')
    direct.execute('DROP TABLE lake.replica."alpha"')
    direct.execute('CREATE TABLE lake.replica."alpha" (a_id INTEGER, x INTEGER, g VARCHAR, extra INTEGER)')
    direct.execute('INSERT INTO lake.replica."alpha" VALUES (5, 2, NULL, 9), (6, 3, NULL, 9)')
    with use(Context(served, PROJECT)):
        assert sorted(Alpha.fetch("a_id")) == [5, 6]


def test_a_lake_at_a_snapshot_reads_the_lake(pair) -> None:
    served, _ = pair
    with use(Context(served, PROJECT)):
        Alpha.insert1(dict(a_id=1, x=1))
        version = served.current_snapshot()
        Alpha.insert1(dict(a_id=2, x=2))
    before = served.at(version=version)
    try:
        assert before.replica is None
        with use(Context(before, PROJECT)):
            assert list(Alpha.fetch("a_id")) == [1]
    finally:
        before.close()
