"""Plain DuckDB SQL over the catalog, with table names resolved in the project's schemas."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import duckdb

from labdata.catalog.declare.registry import LAB_SCHEMA
from labdata.core.errors import CatalogError, QueryError

if TYPE_CHECKING:
    import pandas as pd

    from labdata.catalog.engine.context import Context

__all__ = ["run_sql"]


def run_sql(context: Context, query: str, params: Any = None) -> pd.DataFrame:
    """Run DuckDB SQL where unqualified names are looked up in ``<project>``,
    ``<project>_computed`` and ``lab`` (in that order), and ``schema.table`` names in the
    lake; return a DataFrame.

    Examples
    --------
    >>> run_sql(context, "SELECT count(*) AS n FROM session")     # doctest: +SKIP
    """
    lake = context.lake
    schemas = lake.schemas()
    if context.schema_for("data") not in schemas:
        projects = sorted(s for s in schemas if f"{s}_computed" in schemas)
        raise CatalogError(f"The lake has no project {context.project!r}.",
                           hint=f"Projects in this lake: {', '.join(projects) or 'none yet'}.")
    path = ",".join(f"{lake.alias}.{schema}" for schema in
                    (context.schema_for("data"), context.schema_for("computed"), LAB_SCHEMA))
    cursor = lake.cursor()
    cursor.execute(f"USE {lake.alias}")  # schema-qualified names (mice_computed.unit_metrics) resolve in the lake
    cursor.execute(f"SET search_path = '{path}'")
    try:
        return lake.execute(query, params).to_arrow_table().to_pandas()
    except duckdb.Error as error:
        raise QueryError(f"The SQL failed: {error}",
                         hint="Tables are named in snake_case (session, dataset__data_files); "
                         "see labdata.schema for their attributes.") from error
    finally:
        cursor.execute("RESET search_path")
        cursor.execute("USE memory")
