"""Compute: analyses queued as ComputeTask rows and run by local, SLURM (and Dask) workers.

``submit(analysis, subject=, session=, target=, ...)`` queues and dispatches (the original's
``labdata.compute.submit``; the context is the current one unless given); ``run_task`` is what
``labdata task <id>`` runs in a worker; ``queue_rows``, ``reset_tasks`` and ``reap_dead_tasks`` keep the queue.
"""

from __future__ import annotations

from typing import Any

from labdata.catalog.engine.context import Context, current_context
from labdata.compute import queue as _queue
from labdata.compute.analysis import BUILTIN, Analysis, analysis_class, analysis_names
from labdata.compute.populate import PopulateCompute
from labdata.compute.queue import SubmitResult, dispatch, queue_rows, reap_dead_tasks, reset_tasks
from labdata.compute.task import RunningTask, run_task
from labdata.compute.work import Resources, Work

__all__ = ["BUILTIN", "Analysis", "PopulateCompute", "Resources", "RunningTask", "SubmitResult", "Work",
           "analysis_class", "analysis_names", "analysis_options", "dispatch", "queue_rows", "reap_dead_tasks",
           "reset_tasks", "run_task", "submit"]


def submit(analysis: str, subject: str | None = None, session: str | None = None, target: str | None = None, *,
           context: Context | None = None, **kwargs: Any) -> SubmitResult:
    """Queue ``analysis`` for the subject/session and run it on ``target`` (see :func:`labdata.compute.queue.submit`).

    Examples
    --------
    >>> submit("populate", target="local", table="UnitMetrics")        # doctest: +SKIP
    """
    return _queue.submit(context or current_context(), analysis, subject=subject, session=session, target=target,
                         **kwargs)


def analysis_options(name: str, context: Context | None = None) -> list[str]:
    """The option names of analysis ``name`` (what ``labdata run <name> --help`` lists)."""
    configured = (context or current_context()).prefs().get("compute", {}).get("analysis")
    return [str(param.name) for param in analysis_class(name, configured).params]
