"""Runners: where queued tasks run (``local``, ``slurm``, ``dask``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labdata.compute.runners.base import QueuedTask, Runner, task_command
from labdata.compute.runners.dask import DaskRunner
from labdata.compute.runners.local import LocalRunner
from labdata.compute.runners.slurm import SlurmRunner
from labdata.core.errors import UnknownTargetError, did_you_mean

if TYPE_CHECKING:
    from labdata.catalog.engine.context import Context

__all__ = ["RUNNERS", "DaskRunner", "LocalRunner", "QueuedTask", "Runner", "SlurmRunner", "runner_for", "task_command"]

RUNNERS: dict[str, type[Runner]] = {"local": LocalRunner, "slurm": SlurmRunner, "dask": DaskRunner}


def runner_for(target: str, context: Context, **settings: Any) -> Runner:
    """The runner of ``target``, configured from the ``compute.<target>`` preference and ``settings``.

    Raises
    ------
    UnknownTargetError
        No runner has this name.
    """
    if target not in RUNNERS:
        raise UnknownTargetError(f"There is no compute target {target!r}.{did_you_mean(target, RUNNERS)}",
                                 hint=f"Use one of: {', '.join(sorted(RUNNERS))}.")
    configured = context.prefs().get("compute", {}).get(target) or {}
    return RUNNERS[target](context, {**configured, **{k: v for k, v in settings.items() if v is not None}})
