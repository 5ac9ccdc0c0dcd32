"""File commands: ``labdata get`` (download a selection's raw files to ``local_paths[0]``), ``labdata clean``
and ``labdata sessions`` (a subject's sessions and datasets, with sizes)."""

from __future__ import annotations

import itertools

import click

from labdata.cli.errors import reports_errors
from labdata.cli.options import lake_options, open_context, restrict_option, restrictions
from labdata.core.errors import QueryError

__all__ = ["clean", "get", "human_size", "sessions", "size_cells"]


def selection(subjects: tuple[str, ...], sessions: tuple[str, ...], datasets: tuple[str, ...]) -> list[dict]:
    """Every combination of the given subject, session and dataset names, as restriction dicts."""
    if not (subjects or sessions or datasets):
        raise QueryError("No files selected.", hint="Name at least a subject (-a), a session (-s) or a dataset (-d).")
    axes = [("subject_name", subjects), ("session_name", sessions), ("dataset_name", datasets)]
    given = [(name, values) for name, values in axes if values]
    return [dict(zip([name for name, _ in given], combination, strict=True))
            for combination in itertools.product(*(values for _, values in given))]


@click.command("get")
@click.option("-a", "--subject", "subjects", multiple=True, help="Subject name (repeat for several).")
@click.option("-s", "--session", "sessions", multiple=True, help="Session name (repeat for several).")
@click.option("-d", "--dataset", "datasets", multiple=True, help="Dataset name (repeat for several).")
@lake_options
@click.option("--no-progress", is_flag=True, help="Do not show the download progress bar.")
@reports_errors
def get(subjects: tuple[str, ...], sessions: tuple[str, ...], datasets: tuple[str, ...], project: str | None,
        no_progress: bool, lake_path: str | None) -> None:
    """Download the raw files of the selected datasets that no local path has yet; print every local path."""
    from labdata.catalog import use
    from labdata.schema import Dataset, File

    context = open_context(lake_path, project)
    with use(context):
        files = File & (Dataset.DataFiles & selection(subjects, sessions, datasets))
        if not files:
            raise QueryError("The selection has no files.", hint="Check the names with labdata sessions -a SUBJECT.")
        for path in files.get(progress=not no_progress):
            click.echo(path)


@click.command("clean")
@click.option("-f", "--filter", "filters", multiple=True, help="Only paths containing this text (repeatable).")
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
@click.option("--only-processed", is_flag=True, help="Only sources an upload rule replaced (ProcessedFile).")
@lake_options
@reports_errors
def clean(filters: tuple[str, ...], dry_run: bool, only_processed: bool, project: str | None,
          lake_path: str | None) -> None:
    """Delete local copies under the first local path that the lake holds with the same MD5."""
    from labdata.catalog import use
    from labdata.schema.cleaning import clean_local_copies

    context = open_context(lake_path, project)
    root = context.prefs().local_paths[0]
    with use(context):
        report = clean_local_copies(root, filters=filters, dry_run=dry_run, only_processed=only_processed)
    verb = "would delete" if dry_run else "deleted"
    for path in report.deleted:
        click.echo(f"{verb} {path}")
    for path in report.mismatched:
        click.secho(f"kept {path}: its MD5 differs from the registered one", fg="yellow", err=True)
    click.echo(f"{len(report.deleted)} {verb}, {len(report.mismatched)} kept (checksum mismatch), "
               f"{report.unregistered} not registered, under {root}")


def human_size(size: float) -> str:
    """Bytes as B, kB, MB, GB or TB (powers of 1000).

    Examples
    --------
    >>> human_size(70_004), human_size(3.2e12)
    ('70.0 kB', '3.2 TB')
    """
    for unit in ("B", "kB", "MB", "GB"):
        if abs(size) < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def size_cells(files: dict | None) -> list[str]:
    """The file count and total size columns of a row of ``aggr(..., n='count(*)', size='sum(file_size)')``."""
    files = files or {"n": 0, "size": 0}
    return [str(files["n"]), human_size(files["size"] or 0)]


@click.command("sessions")
@click.option("-a", "--subject", "subjects", multiple=True, help="Subject name (repeatable; default: every subject "
              "with a session matching -r).")
@lake_options
@restrict_option
@click.option("--include-size", is_flag=True, help="Count the raw files of each dataset and add up their sizes.")
@reports_errors
def sessions(subjects: tuple[str, ...], project: str | None, restricts: tuple[str, ...], include_size: bool,
             lake_path: str | None) -> None:
    """List each subject's sessions and their datasets (with file counts and sizes)."""
    from rich.console import Console
    from rich.table import Table

    from labdata.catalog import use
    from labdata.schema import Dataset, File, Session

    if not subjects and not restricts:
        raise click.UsageError("Name subjects with -a, or select sessions with -r.")
    context = open_context(lake_path, project)
    console = Console()
    with use(context):
        selected = Session()
        for restriction in restrictions(restricts):
            selected = selected & restriction
        for subject in subjects or sorted(set(selected.fetch("subject_name"))):
            key = {"subject_name": subject}
            chosen = selected & key
            when = dict(zip(*chosen.fetch("session_name", "session_datetime"), strict=True))
            datasets = (Dataset & chosen).fetch("session_name", "dataset_name", "dataset_type", as_dict=True)
            sizes = {}
            if include_size:
                files = Dataset.aggr(Dataset.DataFiles * File & key, n="count(*)", size="sum(file_size)")
                sizes = {(r["session_name"], r["dataset_name"]): r for r in files.fetch(as_dict=True)}
            table = Table(title=f"{subject}: {len(when)} sessions, {len(datasets)} datasets")
            for column in ("session", "started", "dataset", *(("files", "size") if include_size else ())):
                table.add_column(column)
            for row in datasets:
                name = f"{row['dataset_type']} - {row['dataset_name']}" if row["dataset_type"] else row["dataset_name"]
                cells = [row["session_name"], str(when.get(row["session_name"], "")), name]
                if include_size:
                    cells += size_cells(sizes.get((row["session_name"], row["dataset_name"])))
                table.add_row(*cells)
            console.print(table)
