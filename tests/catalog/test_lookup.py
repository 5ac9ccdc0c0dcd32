"""Key lookups answered in-process (labdata.catalog.expr.lookup) return what DuckDB returns."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labdata.catalog import Manual
from labdata.catalog.declare.registry import TableRegistry
from labdata.catalog.engine.context import Context, use

registry = TableRegistry()
PROJECT = "lookup"
SETTINGS = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
ANIMALS = ["a", "b", "B", "é", "c d"]


@registry.group("data")
class Animal(Manual):
    """Subjects."""

    definition = """
    animal : varchar(16)
    ---
    sex = NULL : enum('M','F','U')
    weight = NULL : float
    """


@registry.group("data")
class Visit(Manual):
    """Sessions of a subject."""

    definition = """
    -> Animal
    visit : int
    ---
    day = NULL : date
    score = NULL : float
    note = NULL : varchar(16)
    """


@registry.group("data")
class Trace(Manual):
    """Per-visit blobs."""

    definition = """
    -> Visit
    channel : smallint
    ---
    samples = NULL : blob
    """


PATTERNS = ["n%", "N%", "%1", "n_", "_", "%", "A%", "x", "%3%"]


def shapes(a: str, v: int, t: float, p: str = "n%") -> list[tuple[str, bool | None, object]]:
    """(name, answered in-process (None: depends on the rows), query builder) for an animal ``a``,
    a visit ``v``, a threshold ``t`` and a LIKE pattern ``p``."""
    return [
        ("animal", True, lambda: Visit & {"animal": a}),
        ("full key", True, lambda: Visit & {"animal": a, "visit": v}),
        ("float condition", True, lambda: Visit & {"animal": a} & f"score > {t}"),
        ("or null", True, lambda: Visit & {"animal": a} & f"score < {t} OR score IS NULL"),
        ("not", True, lambda: Visit & {"animal": a} & f"NOT visit <= {v}"),
        ("semijoin", True, lambda: Visit & (Animal & {"animal": a})),
        ("semijoin on condition", True, lambda: Visit & (Animal & f"weight > {t}")),
        ("two-level semijoin", True, lambda: Trace & (Visit & {"animal": a} & f"visit >= {v}")),
        ("join", True, lambda: Animal * Visit & {"animal": a}),
        ("join then part", True, lambda: (Visit & {"animal": a}) * Trace),
        ("rename", True, lambda: (Visit & {"animal": a}).proj("score", s2="note", v2="visit")),
        ("count", True, lambda: Animal.aggr(Visit, n="count(*)")),
        ("one-element list", True, lambda: Visit & [{"animal": a}]),
        ("unknown key ignored", True, lambda: Visit & {"animal": a, "bogus": 1}),
        ("enum", True, lambda: Animal & {"sex": "M"}),
        ("date", True, lambda: Visit & {"day": dt.date(2024, 1, 1 + v % 5)}),
        ("blobs", True, lambda: Trace & {"animal": a, "visit": v}),
        ("antijoin", False, lambda: Visit - {"animal": a}),
        ("computed", False, lambda: (Visit & {"animal": a}).proj(double="visit * 2")),
        ("like", True, lambda: Visit & {"animal": a} & f'note LIKE "{p}"'),
        ("not like", True, lambda: Visit & {"animal": a} & f'note NOT LIKE "{p}" OR visit = {v}'),
        ("string equality finds the key", True, lambda: Visit & f'animal = "{a}"'),
        ("string in", True, lambda: Visit & f'animal IN ("{a}", "b") AND visit > {v}'),
        ("string not equal", True, lambda: Animal & f'animal != "{a}"'),
        ("enum equality", True, lambda: Animal & 'sex = "M" OR sex IS NULL'),
        ("number compared as text", True, lambda: Visit & f'note = {v}'),
        ("integer equality", True, lambda: Visit & f'visit = {v}'),
        ("integer in", True, lambda: Visit & f'visit IN ({v}, 2) AND animal NOT IN ("{a}")'),
        ("float in", False, lambda: Visit & {"animal": a} & f'score IN ({t}, 0.5)'),
        ("like on any text", None, lambda: Animal & f'animal LIKE "{p}"'),
        ("like escape", False, lambda: Visit & {"animal": a} & 'note LIKE "n!%" ESCAPE "!"'),
        ("semijoin on like", True, lambda: Animal & (Visit & f'animal = "{a}"' & f'note LIKE "{p}"')),
        ("min date", True, lambda: (Animal & {"animal": a}).aggr(Visit, first="min(day)")),
        ("aggregate a join", True, lambda: Animal.aggr(Visit * Trace, top="max(channel)", n="count(note)")),
        ("count a column", True, lambda: Animal.aggr(Visit & f"visit > {v}", n="count(note)", m="max(visit)")),
        ("count key", True, lambda: Animal.aggr(Visit, n="count(animal)")),
        ("min text", True, lambda: Animal.aggr(Visit, first="min(note)", last="max(note)")),
        ("min float", False, lambda: Animal.aggr(Visit, s="min(score)")),
        ("keep all rows", False, lambda: Animal.aggr(Visit, n="count(*)", keep_all_rows=True)),
    ]


@pytest.fixture
def pair(lakes):
    """A lake whose replica indexes every table at its first lookup, and a client without a replica."""
    served, direct = lakes.open(), lakes.open(replica=False)
    with use(Context(served, PROJECT)):
        len(Trace())  # creates the tables
    return served, direct


def fill(lake, seed: int) -> None:
    with use(Context(lake, PROJECT)):
        Animal.insert([dict(animal=a, sex=["M", "F", None][i % 3], weight=None if i == 2 else 0.1 * i)
                       for i, a in enumerate(ANIMALS)], skip_duplicates=True)
        Visit.insert([dict(animal=a, visit=v, day=dt.date(2024, 1, 1 + (v + seed) % 5),
                           score=None if (v + seed) % 4 == 0 else 0.1 * ((v * 7 + seed) % 10),
                           note=f"n{v}" if v % 2 else None)
                      for a in ANIMALS[:4] for v in range(seed % 3, 6)], skip_duplicates=True)
        Trace.insert([dict(animal=a, visit=v, channel=c, samples=[v, c]) for a in ANIMALS[:2]
                      for v in range(seed % 3, 3) for c in range(2)], skip_duplicates=True)


def change(lake, animal: str, visit: int) -> None:
    """Delete one visit (and its traces) and change another's score."""
    with use(Context(lake, PROJECT)):
        (Visit & {"animal": animal, "visit": visit}).delete()
        other = {"animal": animal, "visit": (visit + 1) % 6}
        if Visit & other:
            Visit.update1(dict(other, score=0.7))


def results(lake, build) -> tuple:
    with use(Context(lake, PROJECT)):
        query = build()
        rows = query.fetch(as_dict=True)
        paged = query.fetch(as_dict=True, order_by="KEY", limit=2, offset=1)
        unordered = sorted(map(repr, query.fetch(as_dict=True, order_by=None)))
        return rows, paged, unordered


def answered_in_process(lake, build) -> bool:
    with use(Context(lake, PROJECT)):
        query = build()
        return query.rows_in_process(query.read_catalog()) is not None


def same(left, right) -> bool:
    return repr(left) == repr(right)


@SETTINGS
@given(seed=st.integers(0, 5), animal=st.sampled_from(ANIMALS), visit=st.integers(0, 6),
       threshold=st.sampled_from([0.1, 0.3, 0.5, 0.7, 2, -1]), writer=st.booleans(),
       pattern=st.sampled_from(PATTERNS))
def test_in_process_answers_equal_duckdb_answers(pair, seed, animal, visit, threshold, writer, pattern) -> None:
    """Every shape, after the other client or this one wrote: same rows, same order, same types."""
    served, direct = pair
    fill(direct if writer else served, seed)
    change(served if writer else direct, animal, visit)
    for name, answerable, build in shapes(animal, visit, threshold, pattern):
        results(served, build)  # the first read goes to the lake, the second copies and indexes
        assert same(results(served, build), results(direct, build)), name
        assert answerable is None or answered_in_process(served, build) == answerable, name


def test_the_index_follows_small_changes_without_being_rebuilt(pair) -> None:
    served, direct = pair
    fill(served, 0)
    query = lambda: Visit & {"animal": "a"}  # noqa: E731
    for _ in range(2):
        results(served, query)
    with use(Context(served, PROJECT)):
        visit = Visit()
        place = visit._table_ref(visit.node).place
    index = served.replica._indexes[place]
    with use(Context(direct, PROJECT)):
        Visit.insert1(dict(animal="a", visit=99, score=1.0))
        (Visit & {"animal": "b", "visit": 3}).delete()
    for name, _, build in shapes("a", 99, 0.5) + shapes("b", 3, 0.5):
        results(served, build)
        assert same(results(served, build), results(direct, build)), name
    assert served.replica._indexes[place] is index
    assert set(index.overlay) == {"a", "b"}
    with use(Context(served, PROJECT)):
        assert (Visit & {"animal": "a", "visit": 99}).fetch1("score") == 1.0
        assert not Visit & {"animal": "b", "visit": 3}


def test_without_room_for_an_index_duckdb_answers(pair) -> None:
    served, direct = pair
    served.replica.index_bytes = 10
    fill(direct, 1)
    for name, _, build in shapes("a", 2, 0.5):
        results(served, build)
        assert same(results(served, build), results(direct, build)), name
        assert not answered_in_process(served, build), name


def test_reads_inside_a_transaction_see_their_own_rows(pair) -> None:
    served, _ = pair
    fill(served, 0)
    results(served, lambda: Visit & {"animal": "a"})
    with use(Context(served, PROJECT)), served.transaction():
        Visit.insert1(dict(animal="a", visit=42))
        assert (Visit & {"animal": "a", "visit": 42}).fetch1("visit") == 42
