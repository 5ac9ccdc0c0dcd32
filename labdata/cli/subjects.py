"""``labdata subjects``: list subjects by responsible member, or add one (``--add``)."""

from __future__ import annotations

from typing import Any

import click

from labdata.cli.errors import reports_errors
from labdata.cli.files import size_cells
from labdata.cli.options import lake_options, open_context, restrict_option, restrictions

__all__ = ["subjects"]


@click.command("subjects")
@lake_options
@click.option("-u", "--user", default=None, help="Only this member's subjects; with --add, the responsible member.")
@click.option("-f", "--filter", "name_filter", default=None, help="Only subjects whose name contains this text.")
@click.option("-s", "--sex", type=click.Choice(["M", "F", "U"]), default=None, help="Only subjects of this sex.")
@restrict_option
@click.option("--include-size", is_flag=True, help="Add each subject's raw file count and size.")
@click.option("--add", "new_subject", default=None, help="Add a subject with this name (needs --dob, --sex, -u).")
@click.option("--dob", default=None, help="Date of birth, YYYY-MM-DD (with --add).")
@click.option("--strain", default=None, help="Strain name (with --add; the error lists the known ones).")
@reports_errors
def subjects(lake_path: str | None, project: str | None, user: str | None, name_filter: str | None, sex: str | None,
             restricts: tuple[str, ...], include_size: bool, new_subject: str | None, dob: str | None,
             strain: str | None) -> None:
    """List subjects (name, sex, date of birth, strain) grouped by responsible member, or add one."""
    from labdata.catalog import use

    context = open_context(lake_path, project, create=bool(new_subject))
    with use(context):
        if new_subject:
            _add(new_subject, dob, sex, strain, user)
        else:
            _list(user, name_filter, sex, restrictions(restricts), include_size)


def _add(name: str, dob: str | None, sex: str | None, strain: str | None, user: str | None) -> None:
    from labdata.schema import Subject
    from labdata.schema.subjects import new_subject_row

    fields = dict(subject_dob=dob, subject_sex=sex, strain_name=strain, user_name=user)
    Subject.insert1(new_subject_row(name, fields))
    click.echo(f"added subject {name}")


def _list(user: str | None, name_filter: str | None, sex: str | None, restricted_by: list[Any],
          include_size: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    from labdata.schema import Dataset, File, Subject

    query = Subject & {k: v for k, v in (("user_name", user), ("subject_sex", sex)) if v}
    for restriction in restricted_by:
        query = query & restriction
    rows = [r for r in query.fetch(as_dict=True) if not name_filter or name_filter in r["subject_name"]]
    sizes = {}
    if include_size and rows:
        files = Subject.aggr(Dataset.DataFiles * File, n="count(*)", size="sum(file_size)")
        sizes = {r["subject_name"]: r for r in files.fetch(as_dict=True)}
    console = Console()
    for member in sorted({r["user_name"] or "" for r in rows}):
        mine = [r for r in rows if (r["user_name"] or "") == member]
        table = Table(title=f"{member or 'no member'}: {len(mine)} subjects")
        for column in ("subject", "sex", "born", "strain", *(("files", "size") if include_size else ())):
            table.add_column(column)
        for r in mine:
            cells = [r["subject_name"], r["subject_sex"], str(r["subject_dob"]), r["strain_name"] or ""]
            if include_size:
                cells += size_cells(sizes.get(r["subject_name"]))
            table.add_row(*cells)
        console.print(table)
    if not rows:
        click.echo("no subjects match")
