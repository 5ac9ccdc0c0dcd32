"""populate in batches: many cheap keys per commit, and the makes that must run alone still do."""

from __future__ import annotations

import pytest
from batch_tables import Coded, Counted, Double, Number, Raced, Stubborn, Tally
from populate_tables import Item, ItemSquare, MakeAudit

from labdata.catalog.populate.batches import BatchSizer, fair_share
from labdata.catalog.populate.making import populate_errors


@pytest.fixture
def numbers(context):
    Number.insert([dict(number_id=i, value=i) for i in range(40)])
    return context


def test_cheap_keys_are_committed_many_per_snapshot(context) -> None:
    Item.insert([dict(item_id=i, value=i + 10) for i in range(60)])
    before = context.lake.current_snapshot()
    result = ItemSquare.populate(reserve_jobs=True)
    snapshots = context.lake.current_snapshot() - before
    assert len(result.made) == 60 and len(ItemSquare()) == 60 and len(MakeAudit()) == 60
    assert sorted(ItemSquare.fetch("square")) == [(i + 10) ** 2 for i in range(60)]
    assert len(ItemSquare.Digit()) == sum(len(str((i + 10) ** 2)) for i in range(60))
    assert snapshots < 30, f"60 keys took {snapshots} commits: the makes were not batched"
    assert not populate_errors(ItemSquare()) and len(ItemSquare.progress()) == 2


def test_a_make_that_reads_its_own_rows_runs_in_a_transaction(numbers) -> None:
    result = Double.populate(reserve_jobs=True)
    assert len(result.made) == 40
    assert dict(zip(*Double.Check.fetch("number_id", "read_back"), strict=True)) == {i: 2 * i for i in range(40)}


def test_a_make_that_updates_runs_in_a_transaction(numbers) -> None:
    Tally.insert1(dict(tally_id=0, count=0))
    assert len(Counted.populate().made) == 40
    assert Tally.fetch1("count") == 40 and sorted(Counted.fetch("seen")) == list(range(1, 41))


def test_a_make_that_swallows_the_signal_is_still_made_in_a_transaction(numbers) -> None:
    assert len(Stubborn.populate().made) == 40
    assert set(Stubborn.Found.fetch("found")) == {1}, "each make saw its own row"


def test_a_refused_batch_is_made_key_by_key_and_the_refusal_lands_on_its_keys(numbers) -> None:
    result = Coded.populate(reserve_jobs=True, suppress_errors=True)
    assert sorted(Coded.fetch("code")) == [0, 1, 2, 3, 4] and len(result.made) == 5
    failed = sorted(key["number_id"] for key, _ in result.errors)
    assert failed == list(range(5, 40)), "each colliding key fails alone, the first of each code is made"
    assert len(populate_errors(Coded())) == 35


def test_a_failed_key_keeps_the_keys_made_before_it(context) -> None:
    Item.insert([dict(item_id=i, value=i + 10) for i in range(20)] + [dict(item_id=20, value=-1)])
    with pytest.raises(ValueError, match="negative"):
        ItemSquare.populate(reserve_jobs=True)
    assert len(ItemSquare()) == 20 and len(MakeAudit()) == 20
    assert [e["key_json"] for e in populate_errors(ItemSquare())] == ['{"item_id": 20}']
    jobs = ItemSquare.jobs if hasattr(ItemSquare, "jobs") else None
    assert jobs is None or len(jobs & {"status": "reserved"}) == 0, "no reservation is left behind"


def test_the_batch_grows_while_makes_are_quick_and_shrinks_for_slow_ones() -> None:
    sizer = BatchSizer()
    for _ in range(5):
        sizer.update(keys=sizer.size, seconds=0.0001 * sizer.size)
    assert sizer.size == 1024
    sizer.update(keys=1024, seconds=512.0)
    assert sizer.size == 1


def test_a_key_made_meanwhile_by_a_worker_that_does_not_reserve_is_skipped(numbers) -> None:
    result = Raced.populate(reserve_jobs=True, order="original")
    assert not result.errors and len(result.made) == 39 and result.skipped == 1
    assert Raced.fetch("by_other", order_by="number_id")[:3].tolist() == [False, True, False]


def test_reserving_workers_leave_others_a_share_while_the_makes_outweigh_two_commits() -> None:
    assert fair_share(1024, remaining=967, seconds_per_key=0.001, commit_seconds=0.1) == 484
    assert fair_share(100, remaining=967, seconds_per_key=0.001, commit_seconds=0.1) == 100
    assert fair_share(1024, remaining=150, seconds_per_key=0.001, commit_seconds=0.1) == 1024, "alone: no split"
    assert fair_share(1, remaining=1, seconds_per_key=60.0, commit_seconds=0.1) == 1
