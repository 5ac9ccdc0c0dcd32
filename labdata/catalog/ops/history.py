"""A row's changes over time: who, when, which command, old and new values (``labdata history``).

DuckLake keeps every snapshot, and for each the rows it inserted and deleted (an update is a delete and an
insert in one snapshot, which DuckLake reports as a pre-image and a post-image). Each commit carries its author
and message (:mod:`labdata.catalog.engine.commit_notes`), so the history of the rows a restriction selects is
one query over ``ducklake_table_changes`` joined with the snapshots.

Examples
--------
>>> for change in row_history(Subject(), {"subject_name": "JC178"}):       # doctest: +SKIP
...     print(change["time"], change["author"], change["change"], change["values"])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlglot

from labdata.core.errors import QueryError

if TYPE_CHECKING:
    from labdata.catalog.tables.table import Table

__all__ = ["row_history"]

_CHANGES = {"insert": "insert", "delete": "delete", "update_preimage": "update (old)",
            "update_postimage": "update (new)"}


def _condition(restriction: Any, names: tuple[str, ...]) -> tuple[str, list[Any]]:
    """A DuckDB WHERE clause for a dict of attribute values or a MySQL condition, with its parameters."""
    if restriction is None:
        return "TRUE", []
    if isinstance(restriction, dict):
        unknown = sorted(set(restriction) - set(names))
        if unknown:
            raise QueryError(f"Unknown attribute(s) {unknown} in the history restriction.",
                             hint=f"Attributes: {', '.join(names)}.")
        return " AND ".join(f'"{name}" = ?' for name in restriction) or "TRUE", list(restriction.values())
    try:
        return sqlglot.transpile(str(restriction), read="mysql", write="duckdb")[0], []
    except sqlglot.errors.ParseError as error:
        raise QueryError(f"The restriction {restriction!r} is not a valid condition: {error}",
                         hint="Use a MySQL condition such as \"subject_name = 'JC178'\" or a dict.") from error


def row_history(table: Table, restriction: Any = None) -> list[dict[str, Any]]:
    """Every change to the rows of ``table`` that ``restriction`` selects, oldest first.

    Parameters
    ----------
    table : Table
        A declared table (bound to its context).
    restriction : dict or str, optional
        Attribute values, or a MySQL condition on the table's attributes.

    Returns
    -------
    list of dict
        ``snapshot``, ``time``, ``author``, ``command``, ``change`` (insert, delete, update (old), update (new))
        and ``values`` (the row's attributes).
    """
    schema = table.table_schema()
    context = table.context
    lake, names = context.lake, tuple(schema.names)
    where, params = _condition(restriction, names)
    columns = ", ".join(f'c."{name}"' for name in names)
    latest = lake.current_snapshot()
    sql = (f"SELECT c.snapshot_id, s.snapshot_time, s.author, s.commit_message, c.change_type, {columns} "
           f"FROM ducklake_table_changes(?, ?, ?, 0, ?) c JOIN {lake.alias}.snapshots() s USING (snapshot_id) "
           f"WHERE {where} ORDER BY c.snapshot_id, c.change_type DESC")
    try:
        rows = lake.execute(sql, [lake.alias, context.schema_for(schema.tier_group), schema.sql_name, latest,
                                  *params]).fetchall()
    except Exception as error:  # duckdb.Error: a bad condition
        raise QueryError(f"The history of {schema.class_name} could not be read: {error}",
                         hint="Restrict on the table's own attributes.") from error
    return [dict(snapshot=row[0], time=row[1], author=row[2], command=row[3], change=_CHANGES.get(row[4], row[4]),
                 values=dict(zip(names, row[5:], strict=True))) for row in rows]
