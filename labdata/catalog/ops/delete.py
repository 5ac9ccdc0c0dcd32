"""Cascading delete: the rows of a query and every row that depends on them, in one transaction.

The primary keys to delete are computed table by table, parents first: the
rows of a child table that reference a deleted parent row are deleted too,
through every reference (renamed and nullable ones included). A lab-wide table
cascades into the tables of every project, and a table cascades into the
tables of registries that refer to it (a lab's own tables referring to
Session). Each key set is staged as an Arrow
table; the rows are then deleted children first, in one write transaction that
is retried as a whole on conflicts.

As in DataJoint 0.14, rows of a part table are deleted only with rows of its master:
a delete reaching a part table whose master loses no rows is refused unless
``force_parts``; with ``force_masters`` the masters of those part rows (and so all
their parts) are deleted too. With ``safemode`` at a terminal the counts are shown
and the delete asks to be confirmed (:mod:`labdata.catalog.ops.confirm`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from labdata.catalog.declare.registry import schema_name
from labdata.catalog.engine.metadata import nonempty_tables
from labdata.catalog.expr.keys import KeyList
from labdata.catalog.ops.confirm import confirm, safe
from labdata.core.errors import IntegrityError, QueryError

if TYPE_CHECKING:
    import pyarrow as pa

    from labdata.catalog.declare.registry import TableRegistry
    from labdata.catalog.engine.context import Context
    from labdata.catalog.engine.remote import RemoteLake
    from labdata.catalog.tables.query import Query

__all__ = ["cascade_delete", "delete_rows", "descendants"]


@dataclass(frozen=True)
class _Node:
    name: str  # full class name
    schema: str  # catalog schema it lives in
    registry: TableRegistry  # the registry declaring it


def delete_rows(query: Query, *, dry_run: bool = False, safemode: bool | None = None,
                force_parts: bool = False, force_masters: bool = False) -> dict[str, int]:
    """Implement :meth:`Query.delete`: confirm at a terminal in safemode, then :func:`cascade_delete`."""
    if not dry_run and safe(safemode):
        counts = cascade_delete(query, dry_run=True, force_parts=force_parts, force_masters=force_masters)
        if not counts:
            print("Nothing to delete.")
            return {}
        for table, count in counts.items():
            print(f"About to delete {table}: {count} rows")
        if not confirm("Commit deletes?"):
            print("Delete cancelled.")
            return {}
    return cascade_delete(query, dry_run=dry_run, force_parts=force_parts, force_masters=force_masters)


def cascade_delete(query: Query, *, dry_run: bool, force_parts: bool = False,
                   force_masters: bool = False) -> dict[str, int]:
    """Delete (or with ``dry_run`` count) the rows; return ``{"schema.table": rows}`` for every affected table.

    Raises
    ------
    IntegrityError
        When rows of a part table would go without rows of its master (see the module docstring).
    """
    table = query.table_of_restriction()
    if table is None:
        raise QueryError("Only rows of one table can be deleted (a table, possibly restricted).",
                         hint="Restrict the table by the query instead: (Table & query).delete().")
    context = query._ensure()
    if context.lake.remote:
        return _delete_remote(query, table, context, dry_run=dry_run)
    registry = table._registry
    plan = _plan(query, table, context, registry)

    def work() -> dict[str, int]:
        staged: list[str] = []
        try:
            sets = [_stage_key_sets(query, context, registry, plan, staged)]
            if force_masters:
                sets += _master_key_sets(context, sets[0], staged)
            if not force_parts:
                _refuse_orphaned_parts(sets)
            counts = _counts(context, sets)
            if not dry_run:
                context.lake.forget_keys()
                for key_sets in sets:
                    for node, (name, _) in key_sets.items():
                        _delete_node(context, node, name)
            return counts
        finally:
            cursor = context.lake.cursor()
            for name in staged:
                cursor.unregister(name)

    if dry_run:
        return work()
    return context.lake.run(work)


def _delete_remote(query: Query, table: Any, context: Context, *, dry_run: bool) -> dict[str, int]:
    """Delete through a facade (remote mode): the server cascades, with its own checks and the account's grants.

    A dry run counts the rows of this table only (the tables below it may be ones the account cannot read).
    """
    declaration = table._registry.schema(table._full_name)
    schema = context.schema_for(declaration.tier_group)
    keys = query.proj().fetch(as_dict=True)
    place = f"{schema}.{declaration.sql_name}"
    if dry_run or not keys:
        return {place: len(keys)} if keys else {}
    lake = cast("RemoteLake", context.lake)
    return {place: lake.delete_keys(schema, declaration.sql_name, keys)}


def _plan(query: Query, table: Any, context: Context, registry: TableRegistry) -> list[_Node]:
    """Return the root and its descendants (expanded over projects), parents first."""
    root = table._full_name
    root_schema = context.schema_for(registry.schema(root).tier_group)
    nodes = [_Node(root, root_schema, registry._owner(root) or registry)]
    below = descendants(nodes[0].registry, root)
    if not below:  # a table nothing refers to: no catalog to look at
        return nodes
    projects = _projects(context) if registry.schema(root).tier_group == "lab" else [context.project]
    existing = {s: set(names) for s, names in context.lake.tables_of(context.lake.schemas()).items()}
    nonempty = nonempty_tables(context.lake)
    for owner, name in below:
        declaration = owner.schema(name)
        for project in ([None] if declaration.tier_group == "lab" else projects):
            where = schema_name(declaration.tier_group, project or context.project)
            holds_rows = nonempty is None or (where, declaration.sql_name) in nonempty
            if declaration.sql_name in existing.get(where, ()) and holds_rows:
                nodes.append(_Node(name, where, owner))
    return nodes


def _master_key_sets(context: Context, key_sets: dict[_Node, tuple[str, int]],
                     staged: list[str]) -> list[dict[_Node, tuple[str, int]]]:
    """With ``force_masters``: the cascades from the masters of part rows whose master keeps its rows."""
    deleted = {node.name for node in key_sets}
    found = []
    for node, (name, _) in list(key_sets.items()):
        master = node.registry.schema(node.name).master
        if master is None or master in deleted:
            continue
        master_class = node.registry.get(master)
        keys = context.lake.execute(
            f"SELECT DISTINCT {', '.join(_quoted(k) for k in node.registry.schema(master).primary_key)} FROM {name}"
        ).to_arrow_table()
        query = master_class(context) & KeyList(keys)
        plan = _plan(query, master_class, context, node.registry)
        found.append(_stage_key_sets(query, context, node.registry, plan, staged))
        deleted.add(master)
    return found


def _quoted(name: str) -> str:
    """The quoted column ``name``."""
    return f'"{name}"'


def _counts(context: Context, sets: list[dict[_Node, tuple[str, int]]]) -> dict[str, int]:
    """Rows to delete per ``schema.table``; a table staged by several cascades counts each key once."""
    staged: dict[str, list[tuple[str, int]]] = {}
    for key_sets in sets:
        for node, found in key_sets.items():
            staged.setdefault(f"{node.schema}.{node.registry.schema(node.name).sql_name}", []).append(found)
    counts = {}
    for place, sets_of_place in staged.items():
        if len(sets_of_place) == 1:
            counts[place] = sets_of_place[0][1]
        else:
            union = " UNION ".join(f"SELECT * FROM {name}" for name, _ in sets_of_place)
            counts[place] = int(context.lake.execute(f"SELECT count(*) FROM ({union})").fetchone()[0])
    return counts


def _refuse_orphaned_parts(sets: list[dict[_Node, tuple[str, int]]]) -> None:
    deleted = {node.name for key_sets in sets for node in key_sets}
    for key_sets in sets:
        for node in key_sets:
            master = node.registry.schema(node.name).master
            if master is not None and master not in deleted:
                raise IntegrityError(f"Attempt to delete part table {node.name} before deleting from its "
                                     f"master {master} first.",
                                     hint="Delete the master's rows (their parts go with them), or pass "
                                          "force_parts=True (or force_masters=True to delete the masters too).")


def descendants(registry: TableRegistry, root: str) -> list[tuple[TableRegistry, str]]:
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
