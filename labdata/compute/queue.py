"""The queue: submitting analyses as ComputeTask rows, dispatching them to a runner, and keeping the queue honest.

:func:`submit` checks everything before queueing anything (the analysis, its options, the target, the
subject and session), refuses a command already queued unless ``force``, inserts one task per unit of work
(dataset, or probe for sorting) with its AssignedFiles in one transaction, and hands the tasks to the
target's runner. :func:`reap_dead_tasks` puts back the tasks whose worker died without recording an end
(SIGKILL, a lost node, a job that left SLURM's queue): CANCELLED and waiting again, the reason in the log.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from labdata.catalog.engine.context import Context
from labdata.compute.analysis import Analysis, analysis_class, options_to_args, task_command
from labdata.compute.runners import QueuedTask, runner_for
from labdata.compute.selection import check_selection
from labdata.compute.task import CANCELLED, WAITING, WORKING, ensure_queue_tables
from labdata.compute.work import Work
from labdata.core.errors import AlreadySubmittedError, TaskStateError, UnknownTargetError
from labdata.schema import ComputeTask

__all__ = ["SubmitResult", "dispatch", "queue_rows", "reap_dead_tasks", "reset_tasks", "submit"]


@dataclass
class SubmitResult:
    """What :func:`submit` did: the analysis, the target, the new tasks and where each went."""

    analysis: str
    target: str
    job_ids: list[int]
    submitted: dict[int, str] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)


def submit(context: Context, analysis: str, *, subject: str | None = None, session: str | None = None,
           target: str | None = None, args: Sequence[str] = (), force: bool = False, wait: bool = True,
           workers: int = 1, runner_settings: Mapping[str, Any] | None = None, **options: Any) -> SubmitResult:
    """Queue ``analysis`` for the selection and run it on ``target``.

    Parameters
    ----------
    analysis : str
        ``populate``, ``spikeinterface``, or a name of the ``compute.analysis`` preference.
    subject, session : str, optional
        The selection (datasets of the subject / session).
    target : str, optional
        ``local``, ``slurm`` or ``dask`` (default: the preferences' ``compute.default_target``).
    args : sequence of str
        The analysis' options as on the command line (``["UnitMetrics", "-r", "..."]``).
    force : bool
        Queue even if the same command was queued before.
    wait : bool
        Return once the tasks have ended (local and dask foreground); else once they are started or submitted
        (dask: only on a scheduler set by ``compute.dask.address``).
    workers : int
        For an analysis of the whole lake (``populate``): this many identical tasks, which share the work
        (populate reserves each key, so every key is made once).
    **options
        The analysis' options as keywords (``restrictions="..."``), instead of or beside ``args``.

    Raises
    ------
    UnknownAnalysisError, AnalysisOptionError, UnknownTargetError, QueryError, NothingToRunError,
    AlreadySubmittedError, ComputeError
        Nothing is queued (ComputeError: the target cannot take the tasks, e.g. dask in the background
        without a scheduler address).
    """
    compute_prefs = context.prefs().get("compute", {})
    cls = analysis_class(analysis, compute_prefs.get("analysis"))
    arguments = [*args, *options_to_args(options, cls)]
    parameters = cls.parse(arguments)
    runner = runner_for(target or compute_prefs.get("default_target") or "local", context, **(runner_settings or {}))
    runner.check(wait=wait)
    check_selection(context, subject, session)
    command = task_command(cls.name, subject, session, arguments, workers)
    analysis_object = cls()
    analysis_object.check_target(parameters, runner.name)
    work = analysis_object.find_work(context, subject, session, parameters)
    if not cls.per_dataset:
        work = [Work(unit.dataset, unit.files, {**unit.parameters, "worker": index})
                for index in range(max(1, workers)) for unit in work]
    ensure_queue_tables(context)  # outside the transaction (see its docstring)
    job_ids = context.lake.run(lambda: _queue(context, cls, command, work, parameters, runner.name, force))
    result = SubmitResult(cls.name, runner.name, job_ids)
    result.submitted = dispatch(context, job_ids, runner_settings=runner_settings, target=runner.name, wait=wait)
    return result


def _queue(context: Context, cls: type[Analysis], command: str, work: list[Work], parameters: dict[str, Any],
           target: str, force: bool) -> list[int]:
    tasks = ComputeTask(context)
    existing = tasks & {"task_cmd": command}
    if existing and not force:
        queued = ", ".join(str(i) for i in existing.fetch("job_id"))
        raise AlreadySubmittedError(f"{command!r} was submitted already (task {queued}).",
                                    hint="Pass --force to queue it again, or `labdata task-reset ID` to rerun it.")
    if force:
        (tasks & {"task_cmd": command} & f"task_status <> '{WORKING}'").delete(safemode=False)
    first = (max(tasks.fetch("job_id"), default=0) or 0) + 1
    ids = []
    for offset, unit in enumerate(work):
        job_id = first + offset
        row = dict(job_id=job_id, task_waiting=1, task_name=cls.name, task_status=WAITING, task_target=target,
                   task_cmd=command, task_parameters=json.dumps({**parameters, **unit.parameters}, default=str),
                   **(unit.dataset or {}))
        tasks.insert1(row)
        ComputeTask.AssignedFiles(context).insert([dict(job_id=job_id, **f) for f in unit.files])
        ids.append(job_id)
    return ids


def dispatch(context: Context, job_ids: Sequence[int], *, target: str, wait: bool,
             runner_settings: Mapping[str, Any] | None = None) -> dict[int, str]:
    """Hand waiting tasks to ``target``'s runner; returns each one's worker label."""
    compute_prefs = context.prefs().get("compute", {})
    runner = runner_for(target, context, **(runner_settings or {}))
    rows = (ComputeTask(context) & [{"job_id": int(i)} for i in job_ids]).fetch(
        "job_id", "task_name", "task_parameters", as_dict=True, order_by="job_id")
    queued = []
    for row in rows:
        cls = analysis_class(row["task_name"], compute_prefs.get("analysis"))
        resources = cls.resources_for(json.loads(row["task_parameters"] or "{}"))
        queued.append(QueuedTask(int(row["job_id"]), cls.name, resources, cls.container))
    return runner.dispatch(queued, wait=wait)


def queue_rows(context: Context, *, reap: bool = True) -> list[dict[str, Any]]:
    """The tasks of the queue (newest last), after putting back those whose worker died."""
    if reap:
        reap_dead_tasks(context)
    return ComputeTask(context).fetch(as_dict=True, order_by="job_id")


def reap_dead_tasks(context: Context) -> list[int]:
    """Tasks WORKING on a worker that no longer runs: CANCELLED, waiting again, with the reason; their ids."""
    reaped = []
    for row in (ComputeTask(context) & {"task_status": WORKING}).fetch(as_dict=True):
        host, target = row["task_host"] or "", row["task_target"] or "local"
        try:
            alive = runner_for(target, context).is_alive(host)
        except UnknownTargetError:
            alive = None
        if alive is False:
            reason = f"the worker {host} ended without finishing the task (killed, or its node lost)"
            context.lake.run(functools.partial(_put_back, context, row, reason))
            reaped.append(int(row["job_id"]))
    return reaped


def _put_back(context: Context, row: dict[str, Any], reason: str) -> None:
    current = (ComputeTask(context) & {"job_id": row["job_id"]}).fetch1()
    if current["task_status"] == WORKING and current["task_host"] == row["task_host"]:
        ComputeTask(context).update1(dict(job_id=row["job_id"], task_status=CANCELLED, task_waiting=1,
                                          task_log=reason[:2000]))


def reset_tasks(context: Context, job_ids: Sequence[int]) -> int:
    """Put tasks back in the queue (WAITING); a task still WORKING on a live worker is refused."""
    reap_dead_tasks(context)
    tasks = ComputeTask(context)

    def reset() -> int:
        for job_id in job_ids:
            rows = (tasks & {"job_id": int(job_id)}).fetch(as_dict=True)
            if not rows:
                raise TaskStateError(f"There is no task {job_id}.", hint="List the queue with `labdata run --queue`.")
            if rows[0]["task_status"] == WORKING:
                raise TaskStateError(f"Task {job_id} is WORKING on {rows[0]['task_host']}.",
                                     hint="Cancel its worker first (scancel, kill); it is put back when it ends.")
            tasks.update1(dict(job_id=int(job_id), task_status=WAITING, task_waiting=1, task_log=None,
                               task_starttime=None, task_endtime=None))
        return len(job_ids)

    return context.lake.run(reset)
