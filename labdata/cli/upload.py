"""``labdata put`` (on a rig: copy a recording to the upload server, queue it) and ``labdata upload``
(on the upload server: run the queued jobs, show the queue, reset failed jobs)."""

from __future__ import annotations

import signal
import sys
from typing import Any

import click

from labdata.cli.errors import reports_errors
from labdata.cli.options import lake_options, open_context

__all__ = ["put", "upload"]


@click.command("put")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("-r", "--rule", default="none", show_default=True,
              help="Upload rule the server applies (none, ephys for SpikeGLX, nwb for an NWB file, or one of "
                   "upload_rules).")
@click.option("-a", "--subject", default=None,
              help="Subject name (default: from the file with -r nwb, else path_rules).")
@click.option("-s", "--session", default=None,
              help="Session name (default: from the file with -r nwb, else path_rules).")
@click.option("-d", "--dataset", default=None, help="Dataset name (default: nwb with -r nwb, else path_rules).")
@click.option("-t", "--dataset-type", default=None, help="Dataset type of a new dataset (e.g. ephys).")
@click.option("--dob", default=None, help="Date of birth of a new subject, YYYY-MM-DD.")
@click.option("--sex", type=click.Choice(["M", "F", "U"]), default=None, help="Sex of a new subject.")
@click.option("--strain", default=None, help="Strain of a new subject.")
@click.option("-u", "--user", default=None, help="Responsible member of a new subject.")
@click.option("--overwrite", is_flag=True, help="Replace different files already on the upload server.")
@lake_options
@click.option("--no-progress", is_flag=True, help="Do not show the copy progress bar.")
@reports_errors
def put(paths: tuple[str, ...], rule: str, subject: str | None, session: str | None, dataset: str | None,
        dataset_type: str | None, dob: str | None, sex: str | None, strain: str | None, user: str | None,
        overwrite: bool, project: str | None, no_progress: bool, lake_path: str | None) -> None:
    """Copy files (all files of a folder) to the upload server and queue an upload job; this does not upload
    to the storage: the upload server does (labdata upload)."""
    from labdata.catalog import use
    from labdata.upload import put as put_files

    new_subject = dict(subject_dob=dob, subject_sex=sex, strain_name=strain, user_name=user)
    with use(open_context(lake_path, project, create=True)):
        result = put_files(paths, rule=rule, subject_name=subject, session_name=session, dataset_name=dataset,
                           dataset_type=dataset_type, new_subject=new_subject, overwrite=overwrite,
                           progress=not no_progress)
    where = "/".join(result.dataset.values())
    if not result.created:
        click.echo(f"already queued: job {result.job_id} ({result.status}) holds these {len(result.files)} files "
                   f"of {where}")
        if result.status == "FAILED":
            click.echo("the job failed: see labdata upload --queue; labdata upload --reset-failed runs it again")
        return
    click.echo(f"queued job {result.job_id}: {len(result.files)} files of {where} (rule {rule})")


@click.command("upload")
@click.argument("job_ids", nargs=-1, type=int)
@click.option("--all-hosts", is_flag=True, help="Also run jobs assigned to other upload hosts.")
@click.option("--reset-failed", is_flag=True, help="Make FAILED jobs claimable again first.")
@click.option("--queue", is_flag=True, help="Show the jobs by status; run nothing.")
@click.option("-n", "--n-jobs", default=1, show_default=True, help="Jobs run at once.")
@lake_options
@click.option("--no-progress", is_flag=True, help="Do not show the upload progress bars.")
@reports_errors
def upload(job_ids: tuple[int, ...], all_hosts: bool, reset_failed: bool, queue: bool, n_jobs: int,
           project: str | None, no_progress: bool, lake_path: str | None) -> None:
    """Run the waiting upload jobs of this host (run on the upload server only)."""
    from labdata.catalog import use
    from labdata.upload import process_upload_jobs
    from labdata.upload import reset_failed as reset

    with use(open_context(lake_path, project, create=True)):
        if queue:
            _show_queue()
            return
        if reset_failed:
            ids = reset(list(job_ids) or None)
            click.echo(f"reset {len(ids)} failed job(s): {', '.join(map(str, ids)) or '-'}")
        signal.signal(signal.SIGTERM, _interrupted)
        outcomes = process_upload_jobs(list(job_ids) or None, all_hosts=all_hosts, n_jobs=n_jobs,
                                       progress=not no_progress)
    for outcome in outcomes:
        colour = {"COMPLETED": "green", "FAILED": "red"}.get(outcome.status)
        click.secho(f"job {outcome.job_id}: {outcome.status} {outcome.log}".rstrip(), fg=colour)
    if not outcomes:
        click.echo("no upload jobs waiting for this host")
    if any(o.status == "FAILED" for o in outcomes):
        sys.exit(1)


def _interrupted(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


_ORDER = ("WORKING", "FAILED", "WAITING", "ON SERVER", "COMPLETED")


def _show_queue() -> None:
    from rich.console import Console
    from rich.table import Table

    from labdata.schema import UploadJob

    rows = UploadJob.fetch(as_dict=True, order_by="job_id")
    console = Console()
    for status in (*_ORDER, *sorted({r["job_status"] or "" for r in rows} - set(_ORDER))):
        jobs = [r for r in rows if (r["job_status"] or "") == status]
        if not jobs:
            continue
        table = Table(title=f"{status or 'no status'}: {len(jobs)} job(s)" + (", last 10" if len(jobs) > 10 else ""))
        for column in ("job", "rule", "host", "dataset", "started", "log"):
            table.add_column(column)
        for r in jobs[-10:]:
            names = "/".join(str(r[n]) for n in ("subject_name", "session_name", "dataset_name") if r[n])
            table.add_row(str(r["job_id"]), r["job_rule"] or "", r["job_host"] or "", names,
                          str(r["job_starttime"] or ""), r["job_log"] or "")
        console.print(table)
    if not rows:
        click.echo("the upload queue is empty")
