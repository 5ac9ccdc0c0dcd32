"""Several processes writing one lake, and processes killed in the middle of a transaction."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labdata.catalog import Context, use
from labdata.schema import Dataset, Session, Subject
from templates import mark_ensured

WORKERS = Path(__file__).with_name("workers.py")


def spec_of(lakes) -> str:
    return json.dumps({"kind": lakes.kind, "root": str(lakes.root), "dsn": lakes.dsn,
                       "metadata_schema": lakes.metadata_schema})


def start(command: str, spec: str, *args: object, pause: bool = False) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WORKERS), command, spec, *(json.dumps(a) for a in args)],
        stdin=subprocess.PIPE if pause else subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )


def prepare(lakes) -> str:
    """The lake of the workers, with the rows of ``workers.setup`` (made here, on a template copy); its spec."""
    lakes.seed(people=True)
    lake = mark_ensured(lakes.open(), "test_project")
    try:
        with use(Context(lake, "test_project")):
            Subject.insert1(dict(subject_name="JC178", subject_dob="2023-01-01", subject_sex="M",
                                 strain_name="C57BL/6J", user_name="couto"))
    finally:
        lake.close()  # no client of this process is connected while the workers run
    return spec_of(lakes)


def run(command: str, spec: str, *args: object) -> None:
    process = start(command, spec, *args)
    _, err = process.communicate(timeout=600)
    assert process.returncode == 0, err


@pytest.mark.slow
def test_four_processes_insert_with_skip_duplicates(lakes) -> None:
    """4 × 60 sessions, each half shared with another process: exact count, no duplicates, no failure."""
    spec = prepare(lakes)
    starts = [0, 30, 60, 90]  # worker i writes [30 i, 30 i + 60): keys 30-119 are written by two workers
    processes = [start("insert_sessions", spec, first, 60) for first in starts]
    for process in processes:
        out, err = process.communicate(timeout=900)
        assert process.returncode == 0, f"a worker failed:\n{err}"
        assert out.strip() == "done"
    with use(Context(lakes.open(), "test_project")):
        names = Session.fetch("session_name")
    assert len(names) == 150
    assert len(set(names)) == 150
    assert sorted(names) == [f"s{n:05d}" for n in range(150)]


KILL_POINTS = ["begin", "subject", "session", "datasets"]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_sigkill_inside_a_multi_table_transaction_leaves_all_or_nothing(lakes, point) -> None:
    spec = prepare(lakes)
    process = start("multi_table", spec, "KILLED", True, pause=True)
    for line in process.stdout:
        if line.strip() == point:
            break
        process.stdin.write("\n")
        process.stdin.flush()
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    with use(Context(lakes.open(), "test_project")):
        assert_all_or_nothing("KILLED", expect=0)
    run("multi_table", spec, "KILLED", False)  # a re-run completes
    with use(Context(lakes.open(), "test_project")):
        assert_all_or_nothing("KILLED", expect=1)


def test_sigkill_at_random_moments_including_commit(lakes) -> None:
    """Kill workers after random delays, hitting commits too: every subject is complete or absent."""
    spec = prepare(lakes)
    rng = random.Random(7)
    names = [f"R{i}" for i in range(4)]
    for name in names:
        process = start("multi_table", spec, name, False)
        time.sleep(rng.uniform(0.2, 2.0))
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    with use(Context(lakes.open(), "test_project")):
        for name in names:
            assert_all_or_nothing(name, expect=None)
    for name in names:
        run("multi_table", spec, name, False)
    with use(Context(lakes.open(), "test_project")):
        for name in names:
            assert_all_or_nothing(name, expect=1)


def assert_all_or_nothing(name: str, expect: int | None) -> None:
    counts = (len(Subject & {"subject_name": name}), len(Session & {"subject_name": name}),
              len(Dataset & {"subject_name": name}))
    assert counts in ((0, 0, 0), (1, 1, 2)), f"half-written transaction: {counts}"
    if expect is not None:
        assert counts[0] == expect
