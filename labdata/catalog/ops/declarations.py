"""What the lake holds of each declared table of a lab's own schema, and what changed since.

DuckLake keeps columns and types but no primary keys, so when a table of a
:class:`~labdata.schema.user_schema.Schema` is first created its declaration
(primary key, attributes with types, nullability and defaults, referenced
tables) is recorded as JSON in labdata's bookkeeping table
``labdata_internal.table_declarations``, one row per catalog schema and table.
Each later use of the schema compares the classes against those rows: the
same declaration is accepted (declaring a class again is idempotent), a
different one raises :class:`~labdata.core.errors.DefinitionError` naming the
attributes added, removed or retyped and the primary-key change.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from labdata.catalog.declare.definition import NO_DEFAULT
from labdata.core.errors import DefinitionError

if TYPE_CHECKING:
    from labdata.catalog.declare.definition import Attribute, TableSchema
    from labdata.catalog.engine.context import Context

__all__ = ["declaration_of", "differences", "forget_declarations", "forget_table_declaration", "recorded_declarations",
           "sync_declarations"]

_TABLE = "table_declarations"
_COLUMNS = "schema_name VARCHAR, table_name VARCHAR, class_name VARCHAR, declaration VARCHAR"


def recorded_declarations(lake: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """Every declaration the lake recorded for a lab's own tables, by (schema, table): primary key, attributes."""
    table = lake.internal_table(_TABLE, _COLUMNS)
    rows = lake.execute(f"SELECT schema_name, table_name, declaration FROM {table}").fetchall()
    return {(schema, name): json.loads(text) for schema, name, text in rows}


def _describe(attribute: Attribute) -> str:
    """``type``, ``null`` when nullable, and ``= default``, as one comparable string."""
    text = re.sub(r"\s+", " ", attribute.type.text.strip().lower())
    if attribute.nullable:
        text += " null"
    if attribute.default is not NO_DEFAULT and attribute.default is not None:
        text += f" = {attribute.default}"
    return text


def declaration_of(table: TableSchema) -> dict[str, Any]:
    """The comparable declaration of a table: primary key, attributes and referenced tables.

    Examples
    --------
    >>> declaration_of(Foo.table_schema())["primary_key"]       # doctest: +SKIP
    ['subject_name', 'session_name', 'foo_id']
    """
    return {
        "primary_key": list(table.primary_key),
        "attributes": {a.name: _describe(a) for a in table.attributes},
        "references": sorted({fk.parent for fk in table.foreign_keys}),
    }


def differences(held: dict[str, Any], declared: dict[str, Any]) -> list[str]:
    """Say how ``declared`` differs from the declaration the lake ``held`` (empty if the same).

    Examples
    --------
    >>> old = {"primary_key": ["a"], "attributes": {"a": "int", "b": "float"}, "references": []}
    >>> new = {"primary_key": ["a"], "attributes": {"a": "int", "b": "double", "c": "int"}, "references": []}
    >>> differences(old, new)
    ['attribute added: c (int)', 'attribute retyped: b float -> double']
    """
    old, new = held["attributes"], declared["attributes"]
    found = [f"attribute added: {n} ({new[n]})" for n in new if n not in old]
    found += [f"attribute removed: {n} ({old[n]})" for n in old if n not in new]
    found += [f"attribute retyped: {n} {old[n]} -> {new[n]}" for n in new if n in old and old[n] != new[n]]
    if held["primary_key"] != declared["primary_key"]:
        found.append(f"primary key changed: ({', '.join(held['primary_key'])}) -> "
                     f"({', '.join(declared['primary_key'])})")
    if held.get("references", []) != declared.get("references", []):
        found.append(f"references changed: {held.get('references', [])} -> {declared.get('references', [])}")
    return found


def _held(context: Context, schemas: set[str]) -> dict[tuple[str, str], dict[str, Any]]:
    table = context.lake.internal_table(_TABLE, _COLUMNS)
    marks = ", ".join("?" for _ in schemas)
    rows = context.lake.execute(f"SELECT schema_name, table_name, declaration FROM {table} "
                                f"WHERE schema_name IN ({marks})", sorted(schemas)).fetchall()
    return {(schema, name): json.loads(text) for schema, name, text in rows}


def sync_declarations(context: Context, tables: list[TableSchema]) -> None:
    """Check ``tables`` against the declarations the lake holds, and record the new ones.

    Raises
    ------
    DefinitionError
        When a table's definition differs from the declaration the lake holds; nothing is recorded.
    """
    if not tables:
        return
    declared = {(context.schema_for(t.tier_group), t.sql_name): (t, declaration_of(t)) for t in tables}
    held = _held(context, {schema for schema, _ in declared})
    problems = [f"{table.class_name} ({schema}.{name}): " + "; ".join(found)
                for (schema, name), (table, mine) in declared.items()
                if (schema, name) in held and (found := differences(held[(schema, name)], mine))]
    if problems:
        raise DefinitionError(
            "The definition of a table differs from the table in the lake:\n  " + "\n  ".join(problems),
            hint="Restore the definition the lake holds, or drop the schema's tables with "
                 "schema.drop(force=True) (their rows go too) and declare them again.",
        )
    new = [(schema, name, table.class_name, json.dumps(mine))
           for (schema, name), (table, mine) in declared.items() if (schema, name) not in held]
    if new:
        _record(context, new)


def _record(context: Context, rows: list[tuple[str, str, str, str]]) -> None:
    target = context.lake.internal_table(_TABLE, _COLUMNS)

    def write() -> None:
        for schema, name, class_name, text in rows:
            context.lake.execute(
                f"INSERT INTO {target} SELECT ?, ?, ?, ? WHERE NOT EXISTS "
                f"(SELECT 1 FROM {target} WHERE schema_name = ? AND table_name = ?)",
                [schema, name, class_name, text, schema, name])

    context.lake.run(write)


def forget_declarations(context: Context, schema: str) -> None:
    """Forget the declarations of every table of catalog schema ``schema`` (when it is dropped)."""
    target = context.lake.internal_table(_TABLE, _COLUMNS)
    context.lake.run(lambda: context.lake.execute(f"DELETE FROM {target} WHERE schema_name = ?", [schema]))


def forget_table_declaration(context: Context, schema: str, table_name: str) -> None:
    """Forget the declaration of the table ``schema.table_name`` (when it is dropped)."""
    target = context.lake.internal_table(_TABLE, _COLUMNS)
    context.lake.run(lambda: context.lake.execute(
        f"DELETE FROM {target} WHERE schema_name = ? AND table_name = ?", [schema, table_name]))
