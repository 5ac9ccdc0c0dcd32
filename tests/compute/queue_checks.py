"""What the queue tests of every runner share: a lake of 40 items, and checks of the queue and of the keys made."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from cheap_tables import SLEEP_VARIABLE, Item, MakeCall, Square

from labdata.catalog import Context, Lake
from labdata.compute import queue_rows
from labdata.schema import ComputeTask

__all__ = ["POPULATE", "kill_worker_and_reap", "made_once", "open_lab", "statuses", "wait_for"]

HERE = Path(__file__).parent
POPULATE = ["cheap_tables.Square", "-i", "cheap_tables"]


def open_lab(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Context:
    """An embedded lake with 40 items; workers find the test tables on PYTHONPATH."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.delenv(SLEEP_VARIABLE, raising=False)
    context = Context(Lake("sqlite", folder / "lake"), "compute_test")
    Item(context).insert([dict(item_id=i, value=i) for i in range(40)])
    assert len(ComputeTask(context)) == 0  # the queue's tables exist before workers race to create them
    return context


def made_once(context: Context, count: int) -> None:
    """``count`` keys are made, each by exactly one committed make."""
    calls = Counter(MakeCall(context).fetch("item_id"))
    assert len(Square(context)) == count and sorted(calls) == sorted(Square(context).fetch("item_id"))
    assert set(calls.values()) == {1}, f"keys made more than once: {[k for k, n in calls.items() if n > 1]}"


def statuses(context: Context) -> list[str]:
    """The status of every task, in job order."""
    return [row["task_status"] for row in queue_rows(context, reap=False)]


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def kill_worker_and_reap(context: Context, job_id: int) -> None:
    """SIGKILL the worker of task ``job_id`` once three keys are made; the queue puts the task back (CANCELLED,
    waiting, the reason in its log) and what was made is whole."""
    wait_for(lambda: len(Square(context)) >= 3, "three keys made")
    host = (ComputeTask(context) & {"job_id": job_id}).fetch1("task_host")
    pid = int(host.rpartition("@pid")[2])
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True)
             .stdout.strip() in ("", "Z"), "the worker to die")
    [row] = queue_rows(context)
    assert row["task_status"] == "CANCELLED" and row["task_waiting"] == 1
    assert "ended without finishing" in row["task_log"]
    made_once(context, len(Square(context)))  # the key in progress left nothing
