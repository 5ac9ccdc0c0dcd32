"""``labdata run``, ``labdata task`` and ``labdata task-reset``: the compute queue from the command line.

``labdata run <analysis> -a SUBJECT -s SESSION [-t local|slurm|dask] [--force] [--background] -- <options>``
queues one task per dataset (per probe for sorting) and runs them; ``labdata run <analysis> --help`` lists
the analysis' options; ``labdata run --queue`` shows the queue (after putting back the tasks whose worker
died). ``labdata task <id>`` is what a worker runs; ``labdata task-reset <id>...`` puts tasks back.
"""

from __future__ import annotations

import sys

import click

from labdata.cli.errors import reports_errors
from labdata.cli.options import lake_options, open_context
from labdata.cli.render import print_frame
from labdata.compute import analysis_class, queue_rows, reset_tasks, run_task, submit
from labdata.compute.task import COMPLETED
from labdata.compute.worker import context_from_environment

__all__ = ["run", "task", "task_reset"]

QUEUE_COLUMNS = ["job_id", "task_name", "task_status", "task_target", "task_host", "subject_name", "session_name",
                 "dataset_name", "task_starttime", "task_endtime", "task_log"]


@click.command("run", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": True},
               add_help_option=False)
@click.argument("analysis", required=False)
@click.option("-a", "--subject", default=None, help="Subject name.")
@click.option("-s", "--session", default=None, help="Session name.")
@click.option("-t", "--target", default=None,
              help="local, slurm or dask (compute.dask.address, else a LocalCluster; default: "
                   "compute.default_target).")
@click.option("--force", is_flag=True, help="Queue again a command that was queued before.")
@click.option("--background", is_flag=True,
              help="Return once started: local workers detached (logs in ~/labdata/logs), dask tasks left to "
                   "the compute.dask.address scheduler.")
@click.option("-n", "--processes", type=click.IntRange(1, 256), default=None,
              help="Local workers running at once (default 1); dask: the LocalCluster's workers (default 2).")
@click.option("-w", "--workers", type=click.IntRange(1, 1000), default=1,
              help="Identical tasks sharing a lake-wide analysis (populate reserves each key).")
@click.option("--queue", "show_queue", is_flag=True, help="Show the task queue instead of running anything.")
@click.option("-h", "--help", "show_help", is_flag=True, help="Show this help, or an analysis' options.")
@lake_options
@click.argument("options", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
@reports_errors
def run(ctx: click.Context, analysis: str | None, subject: str | None, session: str | None, target: str | None,
        force: bool, background: bool, processes: int | None, workers: int, show_queue: bool, show_help: bool,
        lake_path: str | None, project: str | None, options: tuple[str, ...]) -> None:
    """Queue ANALYSIS (populate, spikeinterface, ...) for a subject/session and run it.

    \b
    EXAMPLES
        labdata run populate -t local -- UnitMetrics -r 'subject_name = "JC178"'
        labdata run populate -t dask -w 4 -- UnitMetrics
        labdata run spikeinterface -a JC178 -s 20240304_103000 -t slurm -- --sorter tridesclous2
        labdata run --queue
    """
    if show_help or options[:1] in (("-h",), ("--help",)) or (analysis is None and not show_queue):
        _print_help(ctx, analysis)
        return
    context = open_context(lake_path, project)
    if show_queue:
        _print_queue(queue_rows(context))
        return
    args = list(options[1:] if options[:1] == ("--",) else options)
    result = submit(analysis or "", subject, session, target, context=context, args=args, force=force,
                    wait=not background, workers=workers,
                    runner_settings={"processes": processes})
    for job_id in result.job_ids:
        click.echo(f"task {job_id}: {result.analysis} on {result.target} ({result.submitted.get(job_id, '?')})")
    if not background and result.target in ("local", "dask"):
        rows = [r for r in queue_rows(context, reap=False) if r["job_id"] in result.job_ids]
        _print_queue(rows)
        if any(r["task_status"] != COMPLETED for r in rows):
            sys.exit(1)


def _print_help(ctx: click.Context, analysis: str | None) -> None:
    if analysis is None:
        click.echo(ctx.get_help())
        return
    command = analysis_class(analysis, None).command()
    with click.Context(command, info_name=f"labdata run {analysis} [-a S -s S -t T] --") as inner:
        click.echo(command.get_help(inner))


def _print_queue(rows: list[dict]) -> None:
    import pandas as pd  # here, not at the top: `labdata task`, which every worker runs, needs no pandas

    frame = pd.DataFrame(rows, columns=QUEUE_COLUMNS)
    frame["task_log"] = frame["task_log"].map(lambda text: (text or "").strip().splitlines()[-1:] or [""]).str[0]
    print_frame(frame, title="compute tasks", max_rows=200)


@click.command("task")
@click.argument("job_id", type=int)
@lake_options
@reports_errors
def task(job_id: int, lake_path: str | None, project: str | None) -> None:
    """Run queued task JOB_ID here (what a worker runs); exit status 1 unless it completes."""
    from labdata.core.config import Preferences

    context = context_from_environment(Preferences.load()) if lake_path is None else None
    status = run_task(context or open_context(lake_path, project), job_id)
    click.echo(f"task {job_id}: {status}")
    if status != COMPLETED:
        sys.exit(1)


@click.command("task-reset")
@click.argument("job_ids", type=int, nargs=-1, required=True)
@lake_options
@reports_errors
def task_reset(job_ids: tuple[int, ...], lake_path: str | None, project: str | None) -> None:
    """Put tasks JOB_IDS back in the queue (WAITING)."""
    count = reset_tasks(open_context(lake_path, project), list(job_ids))
    click.echo(f"{count} task(s) waiting again")
