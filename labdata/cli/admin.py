"""``labdata admin``: the lab admin's upkeep of the lake."""

from __future__ import annotations

import datetime as dt

import click

from labdata.cli.errors import reports_errors
from labdata.cli.options import open_lake

__all__ = ["admin"]


@click.group()
def admin() -> None:
    """The lab admin's commands: upkeep of the lake."""


@admin.command()
@click.option("--path", "lake_path", default=None, type=click.Path(file_okay=False),
              help="Lake folder (default: lake_path of the preference file).")
@click.option("--retention-days", type=click.FloatRange(min=0), default=None,
              help="Keep snapshots this many days old (default: catalog.retention_days, 30).")
@click.option("--grace-hours", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Never delete files or array groups younger than this (a writer may not have committed yet).")
@click.option("--dry-run", is_flag=True, help="Report what would be done; change nothing.")
@reports_errors
def maintain(lake_path: str | None, retention_days: float | None, grace_hours: float, dry_run: bool) -> None:
    """Flush inlined rows, merge small files, expire old snapshots and delete the files nothing needs.

    Snapshots older than the retention can no longer be opened (``lake.at``); data files only they used,
    files the catalog never registered and array groups no row refers to (those of rows deleted before the
    retention) are deleted. Safe while others write; run it from cron, e.g. nightly.

    \b
    EXAMPLES
        labdata admin maintain --dry-run
        labdata admin maintain --retention-days 90
    """
    from labdata.catalog.ops.maintain import maintain as run_maintenance

    context = open_lake(lake_path)
    days = retention_days if retention_days is not None else float(context.prefs().get("catalog.retention_days", 30))
    report = run_maintenance(context.lake, retention=dt.timedelta(days=days), grace=dt.timedelta(hours=grace_hours),
                             dry_run=dry_run)
    for line in report.lines():
        click.echo(line)
