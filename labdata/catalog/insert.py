"""Writing rows: insert and update inside one retried transaction.

Rows are checked and coerced in Python first (:mod:`labdata.catalog.rows`),
then, inside the write transaction, one query counts primary keys that exist
already and references whose parent is missing; only then are rows written.
A conflict with a concurrent writer reruns the whole check-and-write, so the
checks always see what the write will be committed on.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from labdata.catalog.arrow import arrow_table
from labdata.catalog.blobs import encode_blob, write_long_blobs
from labdata.catalog.ddl import ensure_schemas
from labdata.catalog.rows import AUTO, check_batch_keys, normalize_rows, prepare_row
from labdata.core.errors import DataError, DuplicateError, MissingParentError, NotAllowedError, did_you_mean

if TYPE_CHECKING:
    from labdata.catalog.context import Context
    from labdata.catalog.declare import ForeignKey, TableSchema
    from labdata.catalog.table import Table

__all__ = ["insert_rows", "making", "update_row"]

_making: ContextVar[frozenset[str]] = ContextVar("labdata_making", default=frozenset())


@contextlib.contextmanager
def making(table: type[Table]) -> Iterator[None]:
    """Allow inserts into ``table`` and its parts while its ``make`` runs."""
    token = _making.set(_making.get() | {table._full_name})
    try:
        yield
    finally:
        _making.reset(token)


def _check_direct_insert(table: Table, allowed: bool | None) -> None:
    master = table._master if table._master is not None else type(table)
    if master.tier not in ("imported", "computed") or allowed:
        return
    if master._full_name in _making.get():
        return
    raise NotAllowedError(
        f"{table._full_name} is {master.tier}: its rows are made by populate().",
        hint="Call populate(), or pass allow_direct_insert=True if you really fill it by hand.",
    )


def insert_rows(table: Table, rows: Any, *, replace: bool, skip_duplicates: bool,
                ignore_extra_fields: bool, allow_direct_insert: bool | None) -> int:
    """Implement :meth:`Table.insert`; returns the number of rows written."""
    _check_direct_insert(table, allow_direct_insert)
    schema = table.table_schema()
    context = table.context
    ensure_schemas(context, table._registry)
    prepared = [prepare_row(row, schema, ignore_extra_fields=ignore_extra_fields)
                for row in normalize_rows(rows, schema)]
    prepared = check_batch_keys(prepared, schema, skip_duplicates=skip_duplicates, replace=replace)
    if not prepared:
        return 0
    _serialise_blobs(prepared, schema, context)
    return context.lake.run(lambda: _write(table, schema, context, prepared, replace, skip_duplicates))


def _serialise_blobs(rows: list[dict[str, Any]], schema: TableSchema, context: Context) -> None:
    location = f"{context.schema_for(schema.tier_group)}/{schema.sql_name}"
    for attribute in schema.attributes:
        if attribute.type.kind == "blob":
            for row in rows:
                if row[attribute.name] is not None:
                    row[attribute.name] = encode_blob(row[attribute.name], attribute.name)
        elif attribute.type.kind == "longblob":
            values = write_long_blobs([r[attribute.name] for r in rows], root=context.lake.root,
                                      location=location, attribute=attribute.name)
            for row, value in zip(rows, values, strict=True):
                row[attribute.name] = value


def _write(table: Table, schema: TableSchema, context: Context, rows: list[dict[str, Any]],
           replace: bool, skip_duplicates: bool) -> int:
    lake, target = context.lake, context.qualified(schema.tier_group, schema.sql_name)
    rows = _fill_autoincrement(rows, schema, lake, target)
    staged = f"labdata_new_{uuid.uuid4().hex}"
    cursor = lake.cursor()
    cursor.register(staged, arrow_table(rows, schema))
    try:
        duplicates = _check(table, schema, context, staged, target, skip_duplicates or replace)
        key_match = " AND ".join(f't."{k}" IS NOT DISTINCT FROM n."{k}"' for k in schema.primary_key)
        if replace and duplicates:
            cursor.execute(f"DELETE FROM {target} t WHERE EXISTS (SELECT 1 FROM {staged} n WHERE {key_match})")
        names = ", ".join(f'"{n}"' for n in schema.names)
        where = f" WHERE NOT EXISTS (SELECT 1 FROM {target} t WHERE {key_match})" if skip_duplicates else ""
        cursor.execute(f"INSERT INTO {target} ({names}) SELECT {names} FROM {staged} n{where}")
        return len(rows) - (duplicates if skip_duplicates and not replace else 0)
    finally:
        cursor.unregister(staged)


def _fill_autoincrement(rows: list[dict[str, Any]], schema: TableSchema, lake: Any, target: str) -> list[dict[str, Any]]:
    counters = [a.name for a in schema.attributes if a.type.autoincrement]
    for name in counters:
        if any(row[name] is AUTO for row in rows):
            next_id = int(lake.execute(f'SELECT coalesce(max("{name}"), 0) FROM {target}').fetchone()[0]) + 1
            rows = [dict(row) for row in rows]
            for row in rows:
                if row[name] is AUTO:
                    row[name], next_id = next_id, next_id + 1
    return rows


def _parent_target(table: Table, context: Context, reference: ForeignKey) -> str:
    parent = table._registry.schema(reference.parent)
    return context.qualified(parent.tier_group, parent.sql_name)


def _missing_parent_sql(table: Table, context: Context, reference: ForeignKey, staged: str) -> str:
    present = " AND ".join(f'n."{child}" IS NOT NULL' for child, _ in reference.attribute_map)
    match = " AND ".join(f'p."{parent}" = n."{child}"' for child, parent in reference.attribute_map)
    parent = _parent_target(table, context, reference)
    return f"SELECT * FROM {staged} n WHERE {present} AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {match})"


def _check(table: Table, schema: TableSchema, context: Context, staged: str, target: str,
           tolerate_duplicates: bool) -> int:
    """Count existing keys and raise on missing parents or (unless tolerated) duplicates."""
    key_match = " AND ".join(f't."{k}" = n."{k}"' for k in schema.primary_key)
    duplicate_sql = f"SELECT * FROM {staged} n WHERE EXISTS (SELECT 1 FROM {target} t WHERE {key_match})"
    missing = [_missing_parent_sql(table, context, fk, staged) for fk in schema.foreign_keys]
    counts = context.lake.execute(
        "SELECT " + ", ".join(f"(SELECT count(*) FROM ({sql}))" for sql in [duplicate_sql, *missing])
    ).fetchone()
    for reference, sql, count in zip(schema.foreign_keys, missing, counts[1:], strict=True):
        if count:
            _raise_missing_parent(schema, context, reference, sql, count)
    if counts[0] and not tolerate_duplicates:
        example = context.lake.execute(f"SELECT * FROM ({duplicate_sql}) LIMIT 1").fetch_arrow_table()
        key = {k: example.column(k)[0].as_py() for k in schema.primary_key}
        raise DuplicateError(f"{schema.class_name} already has a row with the key {key} "
                             f"({counts[0]} of the new rows exist).")
    return int(counts[0])


def _raise_missing_parent(schema: TableSchema, context: Context, reference: ForeignKey, sql: str,
                          count: int) -> None:
    example = context.lake.execute(f"SELECT * FROM ({sql}) LIMIT 1").fetch_arrow_table()
    key = {child: example.column(child)[0].as_py() for child, _ in reference.attribute_map}
    raise MissingParentError(
        f"{schema.class_name} refers to {reference.parent} {key}, which does not exist "
        f"({count} row(s) affected).",
        hint=f"Insert the {reference.parent} row first, or fix the key.",
    )


def update_row(table: Table, row: dict[str, Any]) -> None:
    """Implement :meth:`Table.update1`: change secondary attributes of one existing row."""
    schema = table.table_schema()
    context = table.context
    ensure_schemas(context, table._registry)
    missing_key = [k for k in schema.primary_key if k not in row]
    if missing_key:
        raise DataError(f"update1 needs the full primary key of {schema.class_name}; missing {missing_key}.",
                        hint="Include every primary-key attribute in the row.")
    changes = [n for n in row if n not in schema.primary_key]
    unknown = [n for n in changes if n not in schema]
    if unknown:
        raise DataError(f"{schema.class_name} has no attribute {unknown[0]!r}."
                        f"{did_you_mean(unknown[0], schema.secondary)}", hint=f"Secondary attributes: {', '.join(schema.secondary)}.")
    if not changes:
        raise DataError("update1 was given only primary-key attributes; nothing to update.",
                        hint="Add the secondary attributes to change.")
    full = {a: row.get(a) for a in schema.names}
    prepared = prepare_row({k: v for k, v in full.items() if v is not None or k in row}, schema,
                           ignore_extra_fields=False)
    values = {n: prepared[n] for n in changes}
    encoded = [dict(values)]
    _serialise_update(encoded, schema, context)
    context.lake.run(lambda: _apply_update(table, schema, context, prepared, encoded[0]))


def _serialise_update(rows: list[dict[str, Any]], schema: TableSchema, context: Context) -> None:
    location = f"{context.schema_for(schema.tier_group)}/{schema.sql_name}"
    for name in rows[0]:
        kind = schema[name].type.kind
        if kind == "blob" and rows[0][name] is not None:
            rows[0][name] = encode_blob(rows[0][name], name)
        elif kind == "longblob":
            rows[0][name] = write_long_blobs([rows[0][name]], root=context.lake.root,
                                             location=location, attribute=name)[0]


def _apply_update(table: Table, schema: TableSchema, context: Context, prepared: dict[str, Any],
                  values: dict[str, Any]) -> None:
    target = context.qualified(schema.tier_group, schema.sql_name)
    key = {k: prepared[k] for k in schema.primary_key}
    where = " AND ".join(f'"{k}" = ?' for k in key)
    if not context.lake.execute(f"SELECT count(*) FROM {target} WHERE {where}", list(key.values())).fetchone()[0]:
        raise DataError(f"{schema.class_name} has no row with the key {key} to update.",
                        hint="Insert the row first, or fix the key.")
    staged = f"labdata_upd_{uuid.uuid4().hex}"
    cursor = context.lake.cursor()
    cursor.register(staged, arrow_table([prepared | values], schema))
    try:
        for reference in schema.foreign_keys:
            if set(reference.child_attributes) & set(values):
                sql = _missing_parent_sql(table, context, reference, staged)
                count = context.lake.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0]
                if count:
                    _raise_missing_parent(schema, context, reference, sql, count)
        assignments = ", ".join(f'"{n}" = (SELECT "{n}" FROM {staged})' for n in values)
        cursor.execute(f"UPDATE {target} SET {assignments} WHERE {where}", list(key.values()))
    finally:
        cursor.unregister(staged)

