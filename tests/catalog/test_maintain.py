"""``labdata admin maintain``: flush, merge, expire, clean up; nothing a live snapshot or row needs is lost."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from labdata.catalog import Context, use
from labdata.catalog.ops.maintain import maintain
from labdata.core.errors import LabdataError
from labdata.schema import SpikeSortingParams

sys.path.insert(0, str(Path(__file__).parent))
from maintain_tables import Trace

WORKERS = Path(__file__).with_name("workers.py")
BIG = 20_000  # float64 samples: above the inline limit, so each insert writes an array group


def _groups(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in (root / "catalog" / "arrays").rglob("*.zarr")}


def test_maintain_keeps_what_the_retention_needs_and_deletes_the_rest(lakes) -> None:
    lake = lakes.open()
    with use(Context(lake, "test_project")):
        Trace.insert([dict(trace_id=i, samples=np.full(BIG, float(i))) for i in range(3)])
        Trace.insert1(dict(trace_id=9, samples=np.full(BIG, 9.0)))
        (Trace & {"trace_id": 9}).delete(safemode=False)
        before_cut = lake.current_snapshot()
        time.sleep(1.5)
        cut = dt.datetime.now(dt.UTC)
        time.sleep(1.5)
        Trace.insert1(dict(trace_id=4, samples=np.full(BIG, 4.0)))
        inside = lake.current_snapshot()
        (Trace & {"trace_id": 4}).delete(safemode=False)
        groups = _groups(lake.root)
        assert len(groups) == 3, "one group per insert"
        dry = maintain(lake, retention=dt.datetime.now(dt.UTC) - cut, grace=dt.timedelta(0), dry_run=True)
        assert len(dry.deleted_arrays) == 1 and _groups(lake.root) == groups, "a dry run changes nothing"
        report = maintain(lake, retention=dt.datetime.now(dt.UTC) - cut, grace=dt.timedelta(0))
        print("\n".join(report.lines()))
        assert report.expired_snapshots and max(report.expired_snapshots) <= before_cut
        assert report.deleted_arrays == dry.deleted_arrays and "trace" in report.deleted_arrays[0]
        assert _groups(lake.root) == groups - set(report.deleted_arrays)
        rows = Trace.fetch(as_dict=True, order_by="trace_id")
        assert [r["trace_id"] for r in rows] == [0, 1, 2]
        assert all(np.array_equal(r["samples"], np.full(BIG, float(r["trace_id"]))) for r in rows)
    with lake.at(version=inside) as then, use(Context(then, "test_project")):
        assert np.array_equal((Trace & {"trace_id": 4}).fetch1("samples"), np.full(BIG, 4.0)), \
            "a snapshot inside the retention still opens, with the arrays of rows deleted since"
    with pytest.raises(LabdataError if lakes.kind == "sqlite" else Exception):
        lake.at(version=before_cut - 1)


def test_maintain_while_another_process_writes_loses_nothing(lakes) -> None:
    lake = lakes.open()
    with use(Context(lake, "test_project")):
        SpikeSortingParams.insert([dict(parameter_set_num=i, algorithm_name="a", parameters_dict="{}")
                                   for i in range(1000, 1600)])  # past the inline limit: a Parquet file
    spec = json.dumps({"kind": lakes.kind, "root": str(lakes.root), "dsn": lakes.dsn,
                       "metadata_schema": lakes.metadata_schema})
    writer = subprocess.Popen([sys.executable, str(WORKERS), "insert_parameter_sets", spec, "0", "60"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reports = []
    while writer.poll() is None:
        reports.append(maintain(lake, retention=dt.timedelta(0), grace=dt.timedelta(0)))
    out, err = writer.communicate(timeout=300)
    assert writer.returncode == 0 and out.strip() == "done", err
    reports.append(maintain(lake, retention=dt.timedelta(0), grace=dt.timedelta(0)))
    with use(Context(lake, "test_project")):
        numbers = sorted(SpikeSortingParams.fetch("parameter_set_num").tolist())
    assert numbers == [*range(60), *range(1000, 1600)]
    assert any(r.expired_snapshots for r in reports) and reports[-1].files_after >= 1
