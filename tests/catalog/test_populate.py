"""populate: key source minus done keys, atomic makes, job reservations, worker processes."""

from __future__ import annotations

import pytest
from populate_tables import Item, ItemSquare, MakeAudit

from catalog_kinds import sqlite_only
from labdata.core.errors import NotAllowedError


@pytest.fixture
def items(context):
    Item.insert([dict(item_id=i, value=i + 10) for i in range(12)])
    return context

@sqlite_only
def test_populate_makes_every_missing_key_with_its_parts(items) -> None:
    assert ItemSquare.progress() == (12, 12)
    result = ItemSquare.populate({"item_id": 3})
    assert result.made == [{"item_id": 3}]
    assert ItemSquare.fetch1("square") == 169
    assert sorted((ItemSquare.Digit & {"item_id": 3}).fetch("digit")) == [1, 6, 9]
    ItemSquare.populate()
    assert len(ItemSquare()) == 12 and ItemSquare.progress() == (0, 12)
    assert ItemSquare.populate().made == [], "done keys are not made again"
    assert len(MakeAudit()) == 12

@sqlite_only
def test_direct_inserts_into_a_computed_table_are_refused(items) -> None:
    with pytest.raises(NotAllowedError, match="populate"):
        ItemSquare.insert1(dict(item_id=1, square=121))

def test_a_failing_make_writes_nothing_and_is_recorded(items) -> None:
    Item.insert1(dict(item_id=99, value=-1))
    with pytest.raises(ValueError, match="negative"):
        ItemSquare.populate({"item_id": 99})
    assert len(ItemSquare & {"item_id": 99}) == 0 and len(MakeAudit()) == 0, "the make's inserts rolled back"
    result = ItemSquare.populate(reserve_jobs=True, suppress_errors=True)
    assert len(result.made) == 12 and result.errors[0][0] == {"item_id": 99}
    from labdata.catalog.populate.making import populate_errors

    errors = populate_errors(ItemSquare())
    assert errors[0]["key_json"] == '{"item_id": 99}' and "negative value -1" in errors[0]["error_message"]
    assert "Traceback" in errors[0]["error_stack"]
    assert ItemSquare.populate(reserve_jobs=True).skipped == 1, "a failed key stays reserved"

@sqlite_only
def test_max_calls(items) -> None:
    assert len(ItemSquare.populate(max_calls=5).made) == 5
    assert len(ItemSquare()) == 5

@pytest.mark.slow
def test_four_processes_make_every_key_exactly_once(items) -> None:
    result = ItemSquare.populate(processes=4, reserve_jobs=True)
    assert len(result.made) == 12
    assert len(ItemSquare()) == 12 and len(ItemSquare.Digit()) > 12
    calls = MakeAudit.fetch("item_id")
    assert sorted(calls) == list(range(12)), "every key made exactly once"
    assert len(set(MakeAudit.fetch("pid"))) > 1, "several processes made keys"


INDEPENDENT_WORKER = """
import json, sys
sys.path.insert(0, sys.argv[2])
from labdata.catalog import Context, Lake, use
from populate_tables import ItemSquare
spec = json.loads(sys.argv[1])
lake = Lake(spec["kind"], spec["root"], dsn=spec["dsn"], metadata_schema=spec["metadata_schema"])
with use(Context(lake, "test_project")):
    result = ItemSquare.populate(reserve_jobs=True)
print(len(result.made), result.skipped)
"""


@pytest.mark.slow
def test_independent_workers_with_reserve_jobs_never_make_a_key_twice(lakes, items) -> None:
    """Four processes (as on four machines) each populate every key: reservations share the work."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    spec = json.dumps({"kind": lakes.kind, "root": str(lakes.root), "dsn": lakes.dsn,
                       "metadata_schema": lakes.metadata_schema})
    here = str(Path(__file__).parent)
    workers = [subprocess.Popen([sys.executable, "-c", INDEPENDENT_WORKER, spec, here], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(4)]
    made = 0
    for worker in workers:
        out, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err[-3000:]
        made += int(out.split()[0])
    assert made == 12
    assert sorted(MakeAudit.fetch("item_id")) == list(range(12)), "every key made exactly once"
    assert len(ItemSquare()) == 12
