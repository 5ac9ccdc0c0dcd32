"""Create the catalog schemas and tables from the declarations, idempotently."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from labdata.catalog.declare.registry import GROUPS

if TYPE_CHECKING:
    from labdata.catalog.declare.definition import TableSchema
    from labdata.catalog.declare.registry import TableRegistry
    from labdata.catalog.engine.context import Context

__all__ = ["create_table_sql", "ensure_schemas"]

logger = logging.getLogger(__name__)


def create_table_sql(context: Context, table: TableSchema) -> str:
    """Return the ``CREATE TABLE IF NOT EXISTS`` statement of a declared table."""
    columns = ", ".join(
        f'"{a.name}" {a.sql_type}{"" if a.nullable or (a.has_default and not a.in_key) else " NOT NULL"}'
        for a in table.attributes
    )
    return f"CREATE TABLE IF NOT EXISTS {context.qualified(table.tier_group, table.sql_name)} ({columns})"


def ensure_schemas(context: Context, registry: TableRegistry) -> None:
    """Create the lab-wide schema and the project's schemas with all their tables.

    Runs once per lake, registry (at each count of its declarations) and project, after
    the registry's parents; does nothing on a read-only lake. Lookup tables receive
    their ``contents``.
    """
    lake = context.lake
    marker = (id(registry), registry.version, context.project)
    if marker in lake.ensured or lake.read_only or lake.remote:  # a facade's tables are made on the server
        return
    for parent in registry.parents:
        ensure_schemas(context, parent)
    lake.create_internal()
    registry.check_declarations(context)
    names = registry.declaration_order()
    wanted = {(context.schema_for(registry.schema(n).tier_group), registry.schema(n).sql_name) for n in names}
    existing = {(s, t) for s, names_in in lake.tables_of(sorted({s for s, _ in wanted})).items() for t in names_in}
    if wanted - existing:
        logger.info("Creating the tables of project %r in %r", context.project, lake)

        def create() -> None:
            for group in sorted(set(GROUPS) | registry.groups()):
                lake.execute(f'CREATE SCHEMA IF NOT EXISTS {lake.alias}."{context.schema_for(group)}"')
            for name in names:
                lake.execute(create_table_sql(context, registry.schema(name)))

        lake.run(create)
    lake.ensured.add(marker)
    _fill_lookups(context, registry)


def _fill_lookups(context: Context, registry: TableRegistry) -> None:
    """Insert the ``contents`` of lookup tables that hold fewer rows (their counts read in one statement)."""
    lookups = [cls for cls in registry if cls.tier == "lookup" and getattr(cls, "contents", None)]
    if not lookups:
        return
    schemas = [cls.table_schema() for cls in lookups]
    counts = " UNION ALL ".join(f"SELECT {index} AS i, count(*) AS n FROM "
                                f"{context.qualified(schema.tier_group, schema.sql_name)}"
                                for index, schema in enumerate(schemas))
    held = dict(context.lake.execute(counts).fetchall())
    for index, cls in enumerate(lookups):
        contents = list(cls.contents)
        if held.get(index, 0) < len(contents):
            cls(context).insert(contents, skip_duplicates=True)
