"""Plain DuckDB SQL over the catalog, with table names resolved in the project's schemas.

Reading statements run on a read-only attach of the catalog (opened once per lake);
see :mod:`labdata.catalog.engine.sqlguard` for what is refused and why.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import duckdb

from labdata.catalog.declare.registry import LAB_SCHEMA
from labdata.catalog.engine.lake import Lake
from labdata.catalog.engine.sqlguard import check_statement
from labdata.core.errors import QueryError, UnknownProjectError, did_you_mean

if TYPE_CHECKING:
    import pandas as pd

    from labdata.catalog.engine.context import Context

__all__ = ["managed_schemas", "projects", "require_project", "run_sql"]

def projects(lake: Lake) -> list[str]:
    """The projects of a lake: schemas ``x`` that have an ``x_computed`` schema."""
    schemas = lake.schemas()
    return sorted(s for s in schemas if f"{s}_computed" in schemas)


def managed_schemas(lake: Lake) -> list[str]:
    """The schemas labdata manages: ``lab`` and each project's data and computed schemas."""
    return [LAB_SCHEMA, *(name for project in projects(lake) for name in (project, f"{project}_computed"))]


def require_project(context: Context) -> None:
    """Raise unless the lake has the context's project (reads never create one).

    Raises
    ------
    UnknownProjectError
        With the closest project name and the list of projects.
    """
    if context.schema_for("data") in context.lake.schemas():
        return
    known = projects(context.lake)
    raise UnknownProjectError(
        f"The lake has no project {context.project!r}.{did_you_mean(context.project, known)}",
        hint=f"Projects in this lake: {', '.join(known) or 'none yet'}. Pass one with -p/--project (or set "
        "database.project); a project is created by its first insert (e.g. labdata subjects --add).")


def run_sql(context: Context, query: str, params: Any = None, *, write: bool = False) -> pd.DataFrame:
    """Run one DuckDB statement where unqualified names are looked up in ``<project>``,
    ``<project>_computed`` and ``lab`` (in that order), and ``schema.table`` names in the
    lake; return a DataFrame.

    Parameters
    ----------
    context : Context
        The lake and project.
    query : str
        One statement. Reading statements run on a read-only attach of the catalog (so they
        do not see the rows of this thread's open write transaction).
    params : optional
        Parameters of the statement.
    write : bool
        Also run a ``CALL`` of DuckLake's maintenance functions or a write into a schema of
        your own (never into labdata's tables: their rows change through the Python API).

    Raises
    ------
    SQLWriteError
        For a statement that would write (or several statements).
    UnknownProjectError
        When the lake has no such project.

    Examples
    --------
    >>> run_sql(context, "SELECT count(*) AS n FROM session")     # doctest: +SKIP
    """
    require_project(context)
    statement = check_statement(query, write=write, managed=managed_schemas(context.lake))
    lake = _reader(context.lake) if statement.reads else context.lake
    path = ",".join(f"{lake.alias}.{schema}" for schema in
                    (context.schema_for("data"), context.schema_for("computed"), LAB_SCHEMA))
    cursor = lake.cursor()
    cursor.execute(f"USE {lake.alias}")  # schema-qualified names (mice_computed.unit_metrics) resolve in the lake
    cursor.execute(f"SET search_path = '{path}'")
    try:
        result = cursor.execute(query, params) if statement.reads else lake.execute(query, params)
        return result.to_arrow_table().to_pandas()
    except duckdb.Error as error:
        raise QueryError(f"The SQL failed: {error}",
                         hint="Tables are named in snake_case (session, dataset__data_files); "
                         "see labdata.schema for their attributes.") from error
    finally:
        cursor.execute("RESET search_path")
        cursor.execute("USE memory")


def _reader(lake: Lake) -> Lake:
    """A read-only attach of ``lake``'s catalog, opened once per lake."""
    if lake.read_only:
        return lake
    reader: Lake | None = getattr(lake, "_sql_reader", None)
    if reader is None:
        reader = lake.reopened(read_only=True, replica=False)
        lake._sql_reader = reader  # type: ignore[attr-defined]  # kept with the lake it reads, closed with it
        weakref.finalize(lake, reader.close)
    return reader
