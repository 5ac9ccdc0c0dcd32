"""The ``populate`` analysis: ``labdata run populate -t local -- UnitMetrics -r "<restriction>"``.

One task populates one table with ``reserve_jobs=True``, so any number of tasks (on any runner, on any
machine) can populate the same table at once and every key is made once. Each key's ``make`` is its own
transaction: a worker killed mid-key leaves that key unmade (and its reservation, which the next populate
of a live worker on that host clears, see :mod:`labdata.catalog.populate.making`).
"""

from __future__ import annotations

import importlib
import json
import time
from typing import Any, ClassVar

import click

from labdata.catalog.ops.ddl import ensure_schemas
from labdata.catalog.populate.jobs import PopulateJob, job_registry
from labdata.catalog.populate.making import SIGTERM_MESSAGE
from labdata.compute.analysis import Analysis
from labdata.compute.task import RunningTask
from labdata.compute.work import Resources
from labdata.core.errors import AnalysisOptionError, ComputeError, UnknownTableError
from labdata.schema._registry import registry

__all__ = ["PopulateCompute", "table_named"]


class PopulateCompute(Analysis):
    """Populate a computed or imported table: TABLE (e.g. UnitMetrics, or module.Table of your own) [-r RESTRICTION]."""

    name: ClassVar[str] = "populate"
    per_dataset: ClassVar[bool] = False
    resources: ClassVar[Resources] = Resources(cpus=1, memory="4G")
    params: ClassVar[list[click.Parameter]] = [
        click.Argument(["table"]),
        click.Option(["-r", "--restrictions"], multiple=True, help="A MySQL condition or a JSON object of "
                     "attribute values restricting the keys (repeatable; all must hold)."),
        click.Option(["-s", "--stop-on-errors"], is_flag=True, help="Stop at the first failed key."),
        click.Option(["-p", "--processes"], type=click.IntRange(1, 256), default=1,
                     help="Worker processes of this task."),
        click.Option(["-i", "--imports"], multiple=True, help="Modules to import first (where your tables are)."),
        click.Option(["--max-calls"], type=click.IntRange(1), default=None, help="Make at most this many keys."),
    ]

    def compute(self, task: RunningTask) -> None:
        """Populate the table in the task's context; a failed key fails the task (after the others are made)."""
        parameters = task.parameters
        table = table_named(parameters["table"], parameters.get("imports", ()))(task.context)
        retried = _forget_interrupted_keys(table)
        if retried:
            task.log(f"{retried} key(s) interrupted by an earlier SIGTERM are made again")
        restrictions = [_restriction(text) for text in parameters.get("restrictions", ())]
        started = time.perf_counter()
        # random order, as DataJoint advises for parallel workers: tasks of one submit do not queue on the same keys
        result = table.populate(*restrictions, reserve_jobs=True, suppress_errors=not parameters["stop_on_errors"],
                                processes=parameters["processes"], max_calls=parameters.get("max_calls"),
                                order="random")
        task.log(f"{parameters['table']}: {len(result.made)} made, {result.skipped} skipped, "
                 f"{len(result.errors)} failed in {time.perf_counter() - started:.3f} s")
        if result.errors:
            key, message = result.errors[0]
            raise ComputeError(f"{len(result.errors)} key(s) of {parameters['table']} failed, e.g. {key}: {message}",
                               hint=f"See the errors with ({parameters['table']}).jobs, fix, and run the task again.")


def table_named(name: str, imports: Any = ()) -> Any:
    """The table class ``name``: a documented table (``UnitMetrics``, ``SpikeSorting.Unit``) or ``module.Table``.

    Raises
    ------
    AnalysisOptionError
        No such table.
    """
    for module in imports:
        importlib.import_module(module)
    try:
        return registry.get(name)
    except UnknownTableError as unknown:
        module_name, _, class_name = name.rpartition(".")
        if module_name:
            try:
                return getattr(importlib.import_module(module_name), class_name)
            except (ImportError, AttributeError):
                pass
        raise AnalysisOptionError(str(unknown).split("\nhint:")[0], hint="Name a documented table, or your own "
                                  "as module.Table (importable where the task runs).") from unknown


def _forget_interrupted_keys(table: Any) -> int:
    """Drop the job-table errors of keys a cancelled task was making (SIGTERM is no failure of the key)."""
    ensure_schemas(table.context, job_registry)
    interrupted = PopulateJob(table.context) & {"table_name": table._full_name, "status": "error",
                                                "error_message": f"SystemExit: {SIGTERM_MESSAGE}"}
    count = len(interrupted)
    if count:
        interrupted.delete(safemode=False)
    return count


def _restriction(text: str) -> Any:
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise AnalysisOptionError(f"-r {text!r} is not a JSON object: {error.msg}.",
                                      hint='Write a dict restriction as JSON, e.g. -r \'{"unit_id": 3}\'.') from None
    return text
