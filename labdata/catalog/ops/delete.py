"""Cascading delete: the rows of a query and every row that depends on them, in one transaction.

The primary keys to delete are computed table by table, parents first: the
rows of a child table that reference a deleted parent row are deleted too,
through every reference (renamed and nullable ones included). A lab-wide table
cascades into the tables of every project, and a table cascades into the
tables of registries that refer to it (a lab's own tables referring to
Session). Each key set is staged as an Arrow
table; the rows are then deleted children first, in one write transaction that
is retried as a whole on conflicts.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labdata.catalog.declare.registry import schema_name
from labdata.catalog.engine.metadata import nonempty_tables
from labdata.core.errors import QueryError

if TYPE_CHECKING:
    import pyarrow as pa

    from labdata.catalog.declare.registry import TableRegistry
    from labdata.catalog.engine.context import Context
    from labdata.catalog.tables.query import Query

__all__ = ["cascade_delete"]


@dataclass(frozen=True)
class _Node:
    name: str  # full class name
    schema: str  # catalog schema it lives in
    registry: TableRegistry  # the registry declaring it


def cascade_delete(query: Query, *, dry_run: bool) -> dict[str, int]:
    """Implement :meth:`Query.delete`; return ``{"schema.table": rows}`` for every affected table."""
    table = query.table_of_restriction()
    if table is None:
        raise QueryError("Only rows of one table can be deleted (a table, possibly restricted).",
                         hint="Restrict the table by the query instead: (Table & query).delete().")
    context = query._ensure()
    registry = table._registry
    plan = _plan(query, table, context, registry)

    def work() -> dict[str, int]:
        staged: list[str] = []
        try:
            key_sets = _stage_key_sets(query, context, registry, plan, staged)
            if not dry_run:
                context.lake.forget_keys()
                for node in reversed(plan):
                    if node in key_sets:
                        _delete_node(context, node, key_sets[node][0])
            return {f"{n.schema}.{n.registry.schema(n.name).sql_name}": count
                    for n, (_, count) in key_sets.items() if count}
        finally:
            cursor = context.lake.cursor()
            for name in staged:
                cursor.unregister(name)

    if dry_run:
        return work()
    return context.lake.run(work)


def _plan(query: Query, table: Any, context: Context, registry: TableRegistry) -> list[_Node]:
    """Return the root and its descendants (expanded over projects), parents first."""
    root = table._full_name
    root_schema = context.schema_for(registry.schema(root).tier_group)
    projects = _projects(context) if registry.schema(root).tier_group == "lab" else [context.project]
    existing = {s: set(context.lake.tables(s)) for s in context.lake.schemas()}
    nonempty = nonempty_tables(context.lake)
    nodes = [_Node(root, root_schema, registry._owner(root) or registry)]
    for owner, name in _descendants(nodes[0].registry, root):
        declaration = owner.schema(name)
        for project in ([None] if declaration.tier_group == "lab" else projects):
            where = schema_name(declaration.tier_group, project or context.project)
            holds_rows = nonempty is None or (where, declaration.sql_name) in nonempty
            if declaration.sql_name in existing.get(where, ()) and holds_rows:
                nodes.append(_Node(name, where, owner))
    return nodes


def _descendants(registry: TableRegistry, root: str) -> list[tuple[TableRegistry, str]]:
    """Every table depending on ``root``, in its registry or in those referring to it, parents first."""
    found: list[tuple[TableRegistry, str]] = []

    def parents(owner: TableRegistry, name: str) -> set[tuple[TableRegistry, str]]:
        return {(owner._owner(fk.parent), fk.parent) for fk in owner.schema(name).foreign_keys}

    def visit(node: tuple[TableRegistry, str]) -> None:
        for owner in node[0].family():
            for child in list(owner._classes):
                if (owner, child) not in found and node in parents(owner, child):
                    found.append((owner, child))
                    visit((owner, child))

    visit((registry, root))
    ordered: list[tuple[TableRegistry, str]] = []
    while len(ordered) < len(found):  # parents first (a cycle cannot be declared)
        pending = [n for n in found if n not in ordered]
        ordered.extend([n for n in pending if not parents(*n) & set(pending) - {n}] or pending)
    return ordered


def _projects(context: Context) -> list[str]:
    schemas = set(context.lake.schemas())
    return sorted(s for s in schemas if f"{s}_computed" in schemas) or [context.project]


def _stage_key_sets(query: Query, context: Context, registry: TableRegistry, plan: list[_Node],
                    staged: list[str]) -> dict[_Node, tuple[str, int]]:
    key_sets: dict[_Node, tuple[str, int]] = {}
    sql, params = query.compile(registry.schema(plan[0].name).primary_key)
    _stage(context, plan[0], sql, params, key_sets, staged)
    for node in plan[1:]:
        conditions = _parent_conditions(node, key_sets)
        if not conditions:
            continue
        declaration = node.registry.schema(node.name)
        keys = ", ".join(f'c."{k}"' for k in declaration.primary_key)
        table = f'{context.lake.alias}."{node.schema}"."{declaration.sql_name}"'
        _stage(context, node, f"SELECT {keys} FROM {table} c WHERE {' OR '.join(conditions)}", {},
               key_sets, staged)
    return key_sets


def _parent_conditions(node: _Node, key_sets: dict[_Node, tuple[str, int]]) -> list[str]:
    conditions = []
    for reference in node.registry.schema(node.name).foreign_keys:
        for parent_node, (staged_name, _) in key_sets.items():
            if parent_node.name != reference.parent or not _same_project(parent_node, node) \
                    or node.registry._owner(reference.parent) is not parent_node.registry:
                continue
            match = " AND ".join(f'd."{parent}" = c."{child}"' for child, parent in reference.attribute_map)
            conditions.append(f"EXISTS (SELECT 1 FROM {staged_name} d WHERE {match})")
    return conditions


def _same_project(parent: _Node, child: _Node) -> bool:
    group = parent.registry.schema(parent.name).tier_group
    if group == "lab":
        return True
    project = parent.schema if group == "data" else parent.schema.removesuffix(f"_{group}")
    return child.schema == schema_name(child.registry.schema(child.name).tier_group, project)


def _stage(context: Context, node: _Node, sql: str, params: dict[str, Any],
           key_sets: dict[_Node, tuple[str, int]], staged: list[str]) -> None:
    keys: pa.Table = context.lake.execute(sql, params).to_arrow_table()
    if keys.num_rows == 0:
        return
    name = f"labdata_del_{uuid.uuid4().hex}"
    context.lake.cursor().register(name, keys)
    staged.append(name)
    key_sets[node] = (name, keys.num_rows)


def _delete_node(context: Context, node: _Node, staged_name: str) -> None:
    declaration = node.registry.schema(node.name)
    match = " AND ".join(f'd."{k}" = c."{k}"' for k in declaration.primary_key)
    table = f'{context.lake.alias}."{node.schema}"."{declaration.sql_name}"'
    context.lake.execute(f"DELETE FROM {table} c WHERE EXISTS (SELECT 1 FROM {staged_name} d WHERE {match})")
