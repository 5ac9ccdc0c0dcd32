"""What ``compute.py``'s workers import (``benchmarks/`` is on their PYTHONPATH): a no-op analysis and cheap tables.

:class:`NoOp` is an analysis whose ``compute`` does nothing, named ``noop`` through the ``compute.analysis``
preference, so that a task's time is the queue's own cost (submit, worker start, claim, outcome).
:class:`BenchSquare` is a computed table whose ``make`` inserts one row computed from its key (the square of
:class:`BenchItem`'s value): populating it costs what populate itself costs per key.

Not a script.
"""

from __future__ import annotations

from typing import ClassVar

from labdata.catalog import Computed, Manual
from labdata.catalog.declare.registry import TableRegistry
from labdata.compute import Analysis, RunningTask

__all__ = ["BenchItem", "BenchSquare", "NoOp", "registry"]

registry = TableRegistry()


class NoOp(Analysis):
    """A task that does nothing (one per worker: ``per_dataset`` is false)."""

    name: ClassVar[str] = "noop"
    per_dataset: ClassVar[bool] = False

    def compute(self, task: RunningTask) -> None:
        """Nothing to do."""


@registry.group("data")
class BenchItem(Manual):
    """A number to square."""

    definition = """
    item_id : int
    ---
    value : int
    """


@registry.group("computed")
class BenchSquare(Computed):
    """The square of an item's value."""

    definition = """
    -> BenchItem
    ---
    square : bigint
    """

    def make(self, key: dict) -> None:
        value = (BenchItem(self.context) & key).fetch1("value")
        self.insert1(dict(key, square=value * value))


def open_lake_and_read() -> None:
    """What a bare job of the lake does: import labdata, open the lake a runner hands its workers, read the queue.

    The local and SLURM baselines of ``compute.py`` run it as ``python -c "import _compute_tables as t;
    t.open_lake_and_read()"``: the same work as a no-op task without the queue (no submit, claim or outcome).
    """
    from labdata.compute.worker import context_from_environment
    from labdata.core.config import Preferences
    from labdata.schema import ComputeTask

    context = context_from_environment(Preferences.load())
    assert context is not None, "run with the environment of a labdata worker (LABDATA_TASK_LAKE)"
    len(ComputeTask(context))
    context.lake.close()
