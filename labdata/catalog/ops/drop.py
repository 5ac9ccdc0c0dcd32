"""DataJoint's ``delete_quick`` (one table's rows, no cascade) and ``drop`` (a table and its dependents)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labdata.catalog.expr.nodes import Source
from labdata.catalog.ops.confirm import confirm, safe
from labdata.catalog.ops.declarations import forget_table_declaration
from labdata.catalog.ops.delete import cascade_delete, descendants
from labdata.core.errors import IntegrityError, NotAllowedError, QueryError

if TYPE_CHECKING:
    from labdata.catalog.tables.query import Query

__all__ = ["delete_quick", "drop_table"]


def delete_quick(query: Query) -> int:
    """Delete the rows of one table without cascading; return how many were deleted.

    Raises
    ------
    IntegrityError
        When rows of other tables refer to them (MySQL's foreign keys refuse it; use ``delete()``).
    """
    table = query.table_of_restriction()
    if table is None:
        raise QueryError("Only rows of one table can be deleted (a table, possibly restricted).",
                         hint="Restrict the table by the query instead: (Table & query).delete_quick().")
    own = table(query.context).full_table_name()
    counts = cascade_delete(query, dry_run=True, force_parts=True)
    others = {name: count for name, count in counts.items() if name != own}
    if others:
        shown = ", ".join(f"{count} rows of {name}" for name, count in others.items())
        raise IntegrityError(f"Cannot delete rows of {own} without cascading: {shown} refer to them.",
                             hint="Use delete() to delete the rows that refer to them too.")
    return cascade_delete(query, dry_run=False, force_parts=True).get(own, 0)


def drop_table(table: Any, *, safemode: bool | None = None) -> list[str]:
    """Drop ``table`` and every table that depends on it (in the table's project); return their names.

    The classes stay declared: using one again creates its table, empty.

    Raises
    ------
    QueryError
        For a restricted table.
    IntegrityError
        When a part table would be dropped without its master (drop the master).
    """
    if not isinstance(table.node, Source):
        raise QueryError("A table with an applied restriction cannot be dropped.",
                         hint="Call drop() on the unrestricted table.")
    context = table._ensure()
    lake, registry, root = context.lake, table._registry, table._full_name
    if lake.read_only:
        raise NotAllowedError(f"{lake!r} is read-only.", hint="Open the lake for writing to drop a table.")
    names = [(registry._owner(root) or registry, root), *descendants(registry._owner(root) or registry, root)]
    dropped = {name for _, name in names}
    for owner, name in names:
        master = owner.schema(name).master
        if master is not None and master not in dropped:
            raise IntegrityError(f"Attempt to drop part table {name} before dropping its master. "
                                 f"Drop {master} first.", hint=f"Call {master}.drop().")
    places = [(context.schema_for(owner.schema(name).tier_group), owner.schema(name).sql_name) for owner, name in names]
    places = [(schema, sql) for schema, sql in places if sql in lake.tables(schema)]
    if safe(safemode):
        for schema, sql in places:
            print(f"{schema}.{sql}")
        if not confirm("Proceed?"):
            return []
    lake.run(lambda: [lake.execute(f'DROP TABLE IF EXISTS {lake.alias}."{schema}"."{sql}"')
                      for schema, sql in reversed(places)])
    for schema, sql in places:
        forget_table_declaration(context, schema, sql)
    lake.forget_keys()
    lake.ensured -= {marker for marker in lake.ensured if marker[2] == context.project}
    return [f"{schema}.{sql}" for schema, sql in places]
