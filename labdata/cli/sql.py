"""``labdata sql``: DuckDB SQL over the catalog of the configured lake."""

from __future__ import annotations

import click

from labdata.cli.errors import reports_errors
from labdata.cli.render import print_frame

__all__ = ["sql"]


@click.command()
@click.argument("query")
@click.option("--path", default=None, help="Lake folder (default: lake_path of the preferences).")
@click.option("-p", "--project", default=None, help="Project whose tables are queried.")
@reports_errors
def sql(query: str, path: str | None, project: str | None) -> None:
    """Run a DuckDB SQL QUERY over the tables of a project and print the result.

    \b
    EXAMPLES
        labdata sql "SELECT subject_name, count(*) FROM session GROUP BY ALL"
        labdata sql --path ./lake -p demo "SELECT * FROM dataset LIMIT 5"
    """
    import labdata

    labdata.connect(path, project=project)
    print_frame(labdata.sql(query))
