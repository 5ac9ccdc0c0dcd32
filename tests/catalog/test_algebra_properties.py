"""The algebra against a plain pandas evaluation on random small tables, NULLs included."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from algebra_tables import Alpha, Beta
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labdata.catalog import Context, Lake, Not, use
from labdata.catalog.tables.query import U

GROUPS = st.one_of(st.none(), st.sampled_from(["a", "b", "c"]))
ALPHA = st.lists(st.tuples(st.one_of(st.none(), st.integers(-5, 5)), GROUPS), max_size=8)
BETA = st.lists(st.tuples(st.integers(0, 7), st.integers(0, 3), st.one_of(st.none(), st.floats(-10, 10)), GROUPS),
                max_size=12)
SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    lake = Lake("sqlite", tmp_path_factory.mktemp("algebra") / "lake")
    with use(Context(lake, "algebra")):
        len(Alpha())  # create the tables
    yield lake
    lake.close()


def load(lake, alpha_rows, beta_rows) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Replace the rows of both tables; return them as DataFrames (None for NULL)."""
    with lake.transaction():
        lake.execute('DELETE FROM lake.algebra."beta"')
        lake.execute('DELETE FROM lake.algebra."alpha"')
    alpha = [dict(a_id=i, x=x, g=g) for i, (x, g) in enumerate(alpha_rows)]
    beta = {(a, b): dict(a_id=a, b_id=b, y=y, g=g) for a, b, y, g in beta_rows if a < len(alpha)}
    Alpha.insert(alpha)
    Beta.insert(list(beta.values()))
    frame = lambda rows, cols: pd.DataFrame(rows, columns=cols, dtype=object)  # noqa: E731
    return frame(alpha, ["a_id", "x", "g"]), frame(list(beta.values()), ["a_id", "b_id", "y", "g"])


def where(frame: pd.DataFrame, keep) -> pd.DataFrame:
    """The rows of ``frame`` for which ``keep(row)`` is true (empty frames stay frames)."""
    return frame.loc[[bool(keep(row)) for row in frame.itertuples(index=False)]]


def rows(query) -> list[tuple]:
    names = list(query.heading.names)
    return sorted((tuple(_norm(r[n]) for n in names) for r in query.fetch(as_dict=True)), key=_order)


def frame_rows(frame: pd.DataFrame, names) -> list[tuple]:
    return sorted((tuple(_norm(v) for v in row) for row in frame[list(names)].itertuples(index=False)), key=_order)


def _order(row: tuple) -> tuple:
    return tuple((v is None, str(v)) for v in row)


def _norm(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), 6) if isinstance(value, float) else value


@given(ALPHA, BETA, st.integers(-5, 5))
@SETTINGS
def test_restrictions_match_pandas(lake, alpha_rows, beta_rows, threshold) -> None:
    with use(Context(lake, "algebra")):
        alpha, beta = load(lake, alpha_rows, beta_rows)
        greater = where(alpha, lambda r: r.x is not None and r.x > threshold)
        assert rows(Alpha & f"x > {threshold}") == frame_rows(greater, Alpha().heading.names)
        not_greater = where(alpha, lambda r: r.x is not None and not r.x > threshold)
        assert rows(Alpha - f"x > {threshold}") == frame_rows(not_greater, ("a_id", "x", "g")), \
            "as in MySQL, a row whose condition is NULL is dropped by & and by - (NOT NULL is NULL)"
        null_x = where(alpha, lambda r: r.x is None)
        assert rows(Alpha & "x IS NULL") == frame_rows(null_x, ("a_id", "x", "g"))
        assert rows(Alpha & {"g": "a"}) == frame_rows(where(alpha, lambda r: r.g == "a"), ("a_id", "x", "g"))
        pairs = {(b.a_id, b.g) for b in beta.itertuples() if b.g is not None}
        with_beta = where(alpha, lambda r: (r.a_id, r.g) in pairs)  # shared: a_id and g; NULL matches nothing
        assert rows(Alpha ^ Beta) == frame_rows(with_beta, ("a_id", "x", "g"))  # ^: g is secondary in both
        assert rows(Alpha ^ Not(Beta)) == frame_rows(alpha.drop(with_beta.index), ("a_id", "x", "g"))
        assert rows(Alpha & [{"g": "a"}, {"g": "b"}]) == frame_rows(where(alpha, lambda r: r.g in ("a", "b")),
                                                                    ("a_id", "x", "g"))


@given(ALPHA, BETA)
@SETTINGS
def test_join_and_projection_match_pandas(lake, alpha_rows, beta_rows) -> None:
    with use(Context(lake, "algebra")):
        alpha, beta = load(lake, alpha_rows, beta_rows)
        joined = where(alpha.merge(beta, on=["a_id", "g"]), lambda r: r.g is not None)  # NULL matches nothing
        query = Alpha @ Beta  # @: g is secondary in both
        assert rows(query) == frame_rows(joined, query.heading.names)
        projected = Alpha.proj(doubled="x * 2", group="g")
        expected = alpha.assign(doubled=alpha.x.map(lambda v: None if v is None else 2 * v), group=alpha.g)
        assert projected.heading.names == ("a_id", "group", "doubled")
        assert rows(projected) == frame_rows(expected, ("a_id", "group", "doubled"))
        assert rows(Beta.proj()) == frame_rows(beta, ("a_id", "b_id"))


@given(ALPHA, BETA)
@SETTINGS
def test_aggregation_and_universal_sets_match_pandas(lake, alpha_rows, beta_rows) -> None:
    with use(Context(lake, "algebra")):
        alpha, beta = load(lake, alpha_rows, beta_rows)
        beta_only = Beta.proj("y", bg="g")  # aggregate over b rows matching on a_id only
        counts = beta.groupby("a_id").agg(n=("b_id", "size"), total=("y", _sum)).reset_index()
        query = Alpha.aggr(beta_only, n="count(*)", total="sum(y)")
        assert rows(query) == frame_rows(where(counts, lambda r: r.a_id in set(alpha.a_id)), ("a_id", "n", "total"))
        kept = Alpha.aggr(beta_only, n="count(b_id)", keep_all_rows=True)
        expected = alpha[["a_id"]].merge(counts, on="a_id", how="left").fillna({"n": 0})
        assert rows(kept) == frame_rows(expected.astype(object), ("a_id", "n"))
        distinct = {(_norm(g),) for g in alpha.g}
        assert set(rows(U("g") & Alpha)) == distinct
        per_group = alpha.groupby(alpha.g.map(lambda v: v if v is not None else "<null>")).size()
        got = {(g if g is not None else "<null>"): n for g, n in rows(U("g").aggr(Alpha, n="count(*)"))}
        assert got == per_group.to_dict()
        assert U().aggr(Beta, n="count(*)").fetch1("n") == len(beta)


def _sum(series: pd.Series):
    values = [v for v in series if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return sum(values) if values else None
