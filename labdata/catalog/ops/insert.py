"""Writing rows: insert and update inside one retried transaction.

Rows are checked and coerced in Python first (:mod:`labdata.catalog.ops.rows`),
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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from labdata.catalog.engine.verified import COMPLETE_LIMIT
from labdata.catalog.ops.arrow import arrow_table
from labdata.catalog.ops.blobs import encode_blob, write_long_blobs
from labdata.catalog.ops.ddl import ensure_schemas
from labdata.catalog.ops.rows import (
    AUTO,
    check_batch_keys,
    coerce_value,
    normalize_rows,
    prepare_row,
)
from labdata.catalog.ops.unique import check_unique_indexes
from labdata.core.errors import (
    DataError,
    DuplicateError,
    MissingParentError,
    NotAllowedError,
    did_you_mean,
)

if TYPE_CHECKING:
    from labdata.catalog.declare.definition import ForeignKey, TableSchema
    from labdata.catalog.engine.context import Context
    from labdata.catalog.engine.remote import RemoteLake
    from labdata.catalog.tables.table import Table

__all__ = ["insert_rows", "making", "update_row", "write_deferred"]

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
    if context.lake.remote:
        return _insert_remote(table, schema, context, prepared, replace=replace, skip_duplicates=skip_duplicates)
    deferred = context.lake.deferred
    if deferred is not None:  # populate commits these rows with the other keys of its batch
        deferred.add((context.schema_for(schema.tier_group), schema.sql_name),
                     _Pending(table, schema, context, prepared, replace, skip_duplicates))
        return len(prepared)
    return context.lake.run(lambda: _write_unique(table, schema, context, prepared, replace, skip_duplicates))


def _insert_remote(table: Table, schema: TableSchema, context: Context, rows: list[dict[str, Any]], *,
                   replace: bool, skip_duplicates: bool) -> int:
    """Send checked rows to a facade (remote mode), blobs encoded; the server checks them again and writes them."""
    if replace:
        raise NotAllowedError(f"{table._full_name}: replace=True is not available through a facade.",
                              hint="Delete the rows, then insert them again.")
    lake = cast("RemoteLake", context.lake)
    return lake.insert_rows(context.schema_for(schema.tier_group), schema.sql_name, rows,
                            skip_duplicates=skip_duplicates)


@dataclass
class _Pending:
    """An insert checked and coerced by a deferred make, written when its batch commits."""

    table: Table
    schema: TableSchema
    context: Context
    rows: list[dict[str, Any]]
    replace: bool
    skip_duplicates: bool

    @property
    def group(self) -> tuple[str, str, bool, bool]:
        return (self.context.project, self.schema.tier_group + "." + self.schema.sql_name, self.replace,
                self.skip_duplicates)


def write_deferred(pending: list[Any]) -> int:
    """Write the inserts that deferred makes buffered, one statement per table, inside the caller's transaction.

    The rows of every insert into one table (with the same options) are written together, tables in the
    order the makes first wrote them (a master before its parts); returns the number of rows written.
    """
    groups: dict[tuple[str, str, bool, bool], list[_Pending]] = {}
    for insert in pending:
        groups.setdefault(insert.group, []).append(insert)
    written = 0
    for inserts in groups.values():
        first = inserts[0]
        rows = [row for insert in inserts for row in insert.rows]
        written += _write_unique(first.table, first.schema, first.context, rows, first.replace,
                                 first.skip_duplicates)
    return written


def _write_unique(table: Table, schema: TableSchema, context: Context, rows: list[dict[str, Any]],
                  replace: bool, skip_duplicates: bool) -> int:
    """:func:`_write` the rows that no other row's unique index values collide with."""
    target = context.qualified(schema.tier_group, schema.sql_name)
    rows = check_unique_indexes(context.lake, target, schema, rows, skip_duplicates)
    return _write(table, schema, context, rows, replace, skip_duplicates) if rows else 0


def _serialise_blobs(rows: list[dict[str, Any]], schema: TableSchema, context: Context) -> None:
    location = f"{context.schema_for(schema.tier_group)}/{schema.sql_name}"
    inline = ("blob", "longblob") if context.lake.remote else ("blob",)  # a facade's server writes the arrays
    for attribute in schema.attributes:
        if attribute.type.kind in inline:
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
    """Insert in one statement that skips existing keys and rows with missing parents.

    When the lake knows every key of the target (see :mod:`labdata.catalog.engine.verified`),
    duplicates are found in Python and the statement does not read the target.
    When fewer rows than given are written, the reason is diagnosed and raised
    (the transaction is then rolled back), unless they were duplicates to skip.
    """
    lake, target = context.lake, context.qualified(schema.tier_group, schema.sql_name)
    rows = _fill_autoincrement(rows, schema, lake, target)
    existing = None if replace else _complete_keys(lake, target, schema)
    if existing is not None:
        rows = _without_known_duplicates(rows, schema, existing, skip_duplicates)
        if not rows:
            return 0
    staged = f"labdata_new_{uuid.uuid4().hex}"
    cursor = lake.cursor()
    cursor.register(staged, arrow_table(rows, schema))
    try:
        key_match = " AND ".join(f't."{k}" = n."{k}"' for k in schema.primary_key)
        if replace:
            cursor.execute(f"DELETE FROM {target} t WHERE EXISTS (SELECT 1 FROM {staged} n WHERE {key_match})")
        references = [fk for fk in schema.foreign_keys if _any_set(rows, fk)]
        parent_keys = {id(fk): (_parent_target(table, context, fk), _referenced_keys(rows, fk)) for fk in references}
        checks = [_parent_exists_sql(table, context, fk, alias="m") for fk in references
                  if not lake.knows(*parent_keys[id(fk)])]
        check_duplicates = existing is None
        if check_duplicates and not skip_duplicates:
            checks.append(f"NOT {_exists_in_target(target, schema, 'm')}")
        conditions = [f"NOT {_exists_in_target(target, schema, 'n')}"] if check_duplicates and skip_duplicates else []
        if checks:  # all or nothing: no row is written when any row fails a check
            conditions.append(f"NOT EXISTS (SELECT 1 FROM {staged} m WHERE NOT ({' AND '.join(checks)}))")
        names = ", ".join(f'"{n}"' for n in schema.names)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        written = cursor.execute(f"INSERT INTO {target} ({names}) SELECT {names} FROM {staged} n{where}").fetchone()[0]
        if written < len(rows):
            _diagnose(table, schema, context, staged, target, references, skip_duplicates)
        if written:
            lake.note_rows_written()
        lake.remember(target, {tuple(row[k] for k in schema.primary_key) for row in rows})
        for parent, keys in parent_keys.values():
            lake.remember(parent, keys)
        return int(written)
    finally:
        cursor.unregister(staged)


def _exists_in_target(target: str, schema: TableSchema, alias: str) -> str:
    """SQL true when the staged row ``alias`` has a key already in the target."""
    match = " AND ".join(f't."{k}" = {alias}."{k}"' for k in schema.primary_key)
    return f"EXISTS (SELECT 1 FROM {target} t WHERE {match})"


def _complete_keys(lake: Any, target: str, schema: TableSchema) -> set[tuple[Any, ...]] | None:
    """Every key of the target, from memory or read once (small tables, SQLite catalogs); else None."""
    if not lake.remembers_keys():
        return None
    known = lake.complete_keys(target)
    if known is None:
        columns = ", ".join(f'"{k}"' for k in schema.primary_key)
        rows = lake.execute(f"SELECT {columns} FROM {target} LIMIT {COMPLETE_LIMIT + 1}").fetchall()
        if len(rows) > COMPLETE_LIMIT:
            return None
        known = set(rows)
        lake.remember(target, known, complete=True)
    return known


def _without_known_duplicates(rows: list[dict[str, Any]], schema: TableSchema, existing: set[tuple[Any, ...]],
                              skip_duplicates: bool) -> list[dict[str, Any]]:
    keys = [tuple(row[k] for k in schema.primary_key) for row in rows]
    duplicates = [key for key in keys if key in existing]
    if duplicates and not skip_duplicates:
        shown = dict(zip(schema.primary_key, duplicates[0], strict=True))
        raise DuplicateError(f"{schema.class_name} already has a row with the key {shown} "
                             f"({len(duplicates)} of the new rows exist).")
    return [row for row, key in zip(rows, keys, strict=True) if key not in existing]


def _any_set(rows: list[dict[str, Any]], reference: ForeignKey) -> bool:
    return any(all(row[c] is not None for c in reference.child_attributes) for row in rows)


def _referenced_keys(rows: list[dict[str, Any]], reference: ForeignKey) -> set[tuple[Any, ...]]:
    """The parent primary keys the rows refer to (rows with a NULL in the reference refer to none)."""
    children = reference.child_attributes
    return {tuple(row[c] for c in children) for row in rows if all(row[c] is not None for c in children)}


def _parent_exists_sql(table: Table, context: Context, reference: ForeignKey, *, alias: str = "n") -> str:
    nulls = " OR ".join(f'{alias}."{child}" IS NULL' for child in reference.child_attributes)
    match = " AND ".join(f'p."{parent}" = {alias}."{child}"' for child, parent in reference.attribute_map)
    parent = _parent_target(table, context, reference)
    return f"({nulls} OR EXISTS (SELECT 1 FROM {parent} p WHERE {match}))"


def _fill_autoincrement(rows: list[dict[str, Any]], schema: TableSchema, lake: Any,
                        target: str) -> list[dict[str, Any]]:
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


def _diagnose(table: Table, schema: TableSchema, context: Context, staged: str, target: str,
              references: list[ForeignKey], skip_duplicates: bool) -> None:
    """Raise the reason rows were not written: a missing parent, or a duplicate key."""
    for reference in references:
        sql = _missing_parent_sql(table, context, reference, staged)
        count = context.lake.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0]
        if count:
            _raise_missing_parent(schema, context, reference, sql, count)
    if skip_duplicates:
        return
    duplicates = f"SELECT * FROM {staged} n WHERE {_exists_in_target(target, schema, 'n')}"
    example = context.lake.execute(f"SELECT * FROM ({duplicates}) LIMIT 1").to_arrow_table()
    count = context.lake.execute(f"SELECT count(*) FROM ({duplicates})").fetchone()[0]
    key = {k: example.column(k)[0].as_py() for k in schema.primary_key}
    raise DuplicateError(f"{schema.class_name} already has a row with the key {key} "
                         f"({count} of the new rows exist).")


def _raise_missing_parent(schema: TableSchema, context: Context, reference: ForeignKey, sql: str,
                          count: int) -> None:
    example = context.lake.execute(f"SELECT * FROM ({sql}) LIMIT 1").to_arrow_table()
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
    for name in changes:
        if name not in schema:
            raise DataError(f"{schema.class_name} has no attribute {name!r}.{did_you_mean(name, schema.secondary)}",
                            hint=f"Secondary attributes: {', '.join(schema.secondary)}.")
    if not changes:
        raise DataError("update1 was given only primary-key attributes; nothing to update.",
                        hint="Add the secondary attributes to change.")
    values = {n: coerce_value(schema[n], row[n], schema) for n in (*schema.primary_key, *changes)}
    _serialise_update(values, changes, schema, context)
    context.lake.run(lambda: _apply_update(table, schema, context, values, changes))


def _serialise_update(values: dict[str, Any], changes: list[str], schema: TableSchema, context: Context) -> None:
    location = f"{context.schema_for(schema.tier_group)}/{schema.sql_name}"
    for name in changes:
        kind = schema[name].type.kind
        if kind == "blob" and values[name] is not None:
            values[name] = encode_blob(values[name], name)
        elif kind == "longblob":
            values[name] = write_long_blobs([values[name]], root=context.lake.root,
                                            location=location, attribute=name)[0]


def _apply_update(table: Table, schema: TableSchema, context: Context, values: dict[str, Any],
                  changes: list[str]) -> None:
    target = context.qualified(schema.tier_group, schema.sql_name)
    key = [values[k] for k in schema.primary_key]
    where = " AND ".join(f'"{k}" = ?' for k in schema.primary_key)
    if not context.lake.execute(f"SELECT count(*) FROM {target} WHERE {where}", key).fetchone()[0]:
        shown = dict(zip(schema.primary_key, key, strict=True))
        raise DataError(f"{schema.class_name} has no row with the key {shown} to update.",
                        hint="Insert the row first, or fix the key.")
    staged = f"labdata_upd_{uuid.uuid4().hex}"
    cursor = context.lake.cursor()
    cursor.register(staged, arrow_table([values], schema, names=list(values)))
    try:
        for reference in schema.foreign_keys:
            if set(reference.child_attributes) <= set(values) and set(reference.child_attributes) & set(changes):
                sql = _missing_parent_sql(table, context, reference, staged)
                count = context.lake.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0]
                if count:
                    _raise_missing_parent(schema, context, reference, sql, count)
        assignments = ", ".join(f'"{n}" = (SELECT "{n}" FROM {staged})' for n in changes)
        cursor.execute(f"UPDATE {target} SET {assignments} WHERE {where}", key)
    finally:
        cursor.unregister(staged)
