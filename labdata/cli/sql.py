"""``labdata sql`` (read-only DuckDB SQL over the catalog; CSV, JSON or Parquet on request) and
``labdata views`` (a DuckDB file of views named after the tables, for any DuckDB client)."""

from __future__ import annotations

import click

from labdata.cli.errors import reports_errors
from labdata.cli.options import lake_options, open_context
from labdata.cli.render import FORMATS, output_format, print_frame, write_frame

__all__ = ["sql", "views"]


@click.command()
@click.argument("query")
@lake_options
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False),
              help="Write the result to this file (.csv, .json or .parquet) instead of printing a table.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="Output format (default: from the -o suffix, else a table; csv and json go to the terminal "
              "without -o).")
@click.option("--write", is_flag=True,
              help="Also run CALL ducklake_<maintenance>(...) or writes into a schema of your own; rows of "
              "labdata's tables never change by SQL (use the Python API).")
@click.option("--max-rows", default=50, show_default=True, help="Rows printed in the table.")
@reports_errors
def sql(query: str, lake_path: str | None, project: str | None, output: str | None, fmt: str | None, write: bool,
        max_rows: int) -> None:
    """Run one DuckDB SQL QUERY over the tables of a project (read-only) and print or save the result.

    Unqualified names resolve in the project's tables, then the lab-wide ones; NULL prints as NULL.
    INSERT, DELETE, UPDATE, DDL, ATTACH, COPY, SET, PRAGMA, CALL and several statements are refused:
    rows change through the Python API (Table.insert, (Table & restriction).delete()).

    \b
    EXAMPLES
        labdata sql "SELECT subject_name, count(*) FROM session GROUP BY ALL"
        labdata sql --path ./lake -p demo "SELECT * FROM dataset" -o datasets.parquet
        labdata sql "FROM subject" --format csv > subjects.csv
    """
    import labdata
    from labdata.catalog import use

    fmt = output_format(output, fmt)
    with use(open_context(lake_path, project, create=write)):
        frame = labdata.sql(query, write=write)
    if fmt == "table":
        print_frame(frame, max_rows=max_rows)
    else:
        write_frame(frame, output, fmt)
        if output is not None:
            click.echo(f"wrote {len(frame)} rows to {output} ({fmt})", err=True)


@click.command()
@lake_options
@click.option("-o", "--output", default="lab.duckdb", show_default=True, type=click.Path(dir_okay=False),
              help="The DuckDB file to write (an existing views file is replaced).")
@reports_errors
def views(lake_path: str | None, project: str | None, output: str) -> None:
    """Write a small DuckDB file of read-only views named after the tables (session, spike_sorting__unit...).

    The views read the lake's catalog, attached read-only as `lake`; small arrays (1-D numeric blobs)
    come out as DuckDB lists. DuckDB does not remember attachments: run the printed ATTACH once after
    opening the file (it is also stored in the file's table labdata_attach).

    \b
    EXAMPLES
        labdata views -o lab.duckdb
        duckdb lab.duckdb -cmd "INSTALL ducklake; INSTALL sqlite; <the printed ATTACH>"
    """
    from labdata.catalog.engine.views import write_views

    result = write_views(open_context(lake_path, project), output)
    click.echo(f"wrote {len(result.views)} views to {result.path}")
    click.echo("open it with any DuckDB client, then attach the lake (read-only) once per session:")
    click.echo(f"  INSTALL ducklake; INSTALL sqlite; LOAD ducklake; LOAD sqlite; {result.attach};")
    click.echo(f'  e.g. duckdb {result.path} -cmd "INSTALL ducklake; INSTALL sqlite; {result.attach}"')
