"""INSERT, UPDATE and DELETE through the facade, carried out by the Python API so that they take its checks.

A write is never run as SQL on the catalog: its rows are worked out by a read (``VALUES`` or ``SELECT`` for an
INSERT; the keys and new values of the rows a WHERE selects for UPDATE and DELETE) and handed to the table's
class, which checks types, keys and parents (``insert``), changes one row at a time (``update1``), or
cascades to every dependent row (``delete``), in one DuckLake transaction. A DELETE whose cascade reaches a
database the account may not delete from is refused before anything is deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from labdata.catalog.declare.registry import schema_name
from labdata.catalog.ops.blobs import decode_blob
from labdata.catalog.ops.delete import descendants
from labdata.core.errors import AccessDeniedError
from labdata.server.grants import DELETE, Grants, database_of
from labdata.server.statements import FacadeStatementError, Plan

if TYPE_CHECKING:
    import duckdb

__all__ = ["apply_write"]

_BLOBS = ("blob", "longblob")


def apply_write(plan: Plan, table: Any, read: Callable[[str], duckdb.DuckDBPyConnection], grants: Grants,
                projects: Collection[str], lab_name: str, *, encoded: bool = False) -> int:
    """Carry out ``plan`` (a checked INSERT / UPDATE / DELETE) on ``table`` (a bound table); return rows affected.

    ``read(sql)`` runs a DuckDB query on the lake's read-only attach. ``encoded``: the INSERT comes from a
    labdata client, its blob values encoded as the catalog stores them (decoded here, then checked and
    encoded again by the insert).
    """
    expression = plan.expression
    if isinstance(expression, exp.Insert):
        return _insert(expression, table, read, encoded)
    if isinstance(expression, exp.Update):
        return _update(expression, table, read)
    assert isinstance(expression, exp.Delete)
    return _delete(expression, table, read, grants, projects, lab_name)


def _insert(expression: exp.Insert, table: Any, read: Callable[[str], Any], encoded: bool) -> int:
    alternative = str(expression.args.get("alternative") or "").upper()
    if expression.args.get("conflict") or expression.args.get("overwrite") or alternative not in ("", "IGNORE"):
        raise FacadeStatementError("INSERT ... ON DUPLICATE KEY UPDATE is not supported by the labdata facade", 1235,
                                   hint="INSERT new rows, UPDATE existing ones.")
    target = expression.this
    columns = [c.name for c in target.expressions] if isinstance(target, exp.Schema) else list(table.heading.names)
    source = expression.expression
    if source is None:
        raise FacadeStatementError("INSERT needs VALUES or a SELECT", 1064)
    rows = read(source.sql(dialect="duckdb")).fetchall()
    if any(len(row) != len(columns) for row in rows):
        raise FacadeStatementError("Column count doesn't match value count at row 1", 1136)
    records = [dict(zip(columns, row, strict=True)) for row in rows]
    if encoded:
        blobs = [name for name in columns if name in table.heading and table.heading[name].kind in _BLOBS]
        for record in records:
            for name in blobs:
                record[name] = decode_blob(record[name])
    ignore = bool(expression.args.get("ignore")) or alternative == "IGNORE"
    return int(table.insert(records, skip_duplicates=ignore, allow_direct_insert=True))


def _keys_and(expression: exp.Update | exp.Delete, table: Any, extra: list[exp.Expr]) -> exp.Select:
    """SELECT of the primary key (and ``extra`` values) of the rows the statement's WHERE selects."""
    key = [exp.column(name) for name in table.primary_key]
    select = exp.select(*key, *extra).from_(expression.this.copy())
    where = expression.args.get("where")
    return select.where(where.this.copy()) if where is not None else select


def _update(expression: exp.Update, table: Any, read: Callable[[str], Any]) -> int:
    assignments = {eq.this.name: eq.expression for eq in expression.expressions}
    changed_key = sorted(set(assignments) & set(table.primary_key))
    if changed_key:
        raise FacadeStatementError(f"The primary key ({', '.join(changed_key)}) cannot be updated", 1235,
                                   hint="Delete the row and insert it with the new key.")
    names = list(assignments)
    extra = [value.copy().as_(f"labdata_new_{i}") for i, value in enumerate(assignments.values())]
    rows = read(_keys_and(expression, table, extra).sql(dialect="duckdb")).fetchall()
    width = len(table.primary_key)

    def change() -> None:
        for row in rows:
            key = dict(zip(table.primary_key, row[:width], strict=True))
            table.update1(key | dict(zip(names, row[width:], strict=True)))

    table.context.lake.run(change)
    return len(rows)


def _delete(expression: exp.Delete, table: Any, read: Callable[[str], Any], grants: Grants,
            projects: Collection[str], lab_name: str) -> int:
    rows = read(_keys_and(expression, table, []).sql(dialect="duckdb")).fetchall()
    if not rows:
        return 0
    doomed = table & [dict(zip(table.primary_key, row, strict=True)) for row in rows]
    reached = {} if _cascade_allowed(table, grants, projects) else doomed.delete(dry_run=True)
    for place, count in reached.items():
        schema = place.split(".")[0]
        if count and DELETE not in grants.privileges(schema, projects):
            raise AccessDeniedError(
                f"DELETE command denied to user '{grants.account}'@'%' for table "
                f"`{database_of(schema, lab_name)}`.`{place.split('.', 1)[1]}` (the delete cascades to {count} row(s))",
                hint="Delete the dependent rows first, or ask someone with a grant on them.")
    deleted = doomed.delete(safemode=False)
    return int(sum(deleted.values()))


def _cascade_allowed(table: Any, grants: Grants, projects: Collection[str]) -> bool:
    """Whether the account may delete from every table a delete from ``table`` can reach (no rows read).

    Otherwise the delete is counted first (a dry run), and refused if it reaches rows the account may not delete.
    """
    project = table.context.project
    reachable = [(table._registry, table._full_name), *descendants(table._registry, table._full_name)]
    for owner, name in reachable:
        group = owner.schema(name).tier_group
        if group == "lab" or DELETE not in grants.privileges(schema_name(group, project), projects):
            return False
    return True
