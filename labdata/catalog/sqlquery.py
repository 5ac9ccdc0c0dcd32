"""Plain DuckDB SQL over the catalog, with table names resolved in the project's schemas."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labdata.catalog.registry import LAB_SCHEMA

if TYPE_CHECKING:
    import pandas as pd

    from labdata.catalog.context import Context

__all__ = ["run_sql"]


def run_sql(context: Context, query: str, params: Any = None) -> pd.DataFrame:
    """Run DuckDB SQL where unqualified names are looked up in ``<project>``,
    ``<project>_computed`` and ``lab`` (in that order); return a DataFrame.

    Examples
    --------
    >>> run_sql(context, "SELECT count(*) AS n FROM session")     # doctest: +SKIP
    """
    lake = context.lake
    path = ",".join(f"{lake.alias}.{schema}" for schema in
                    (context.schema_for("data"), context.schema_for("computed"), LAB_SCHEMA))
    cursor = lake.cursor()
    cursor.execute(f"SET search_path = '{path}'")
    try:
        return cursor.execute(query, params).df()
    finally:
        cursor.execute("RESET search_path")
