"""Unique indexes (``unique index (a, b)`` in a definition), checked on insert as MySQL enforces them.

DuckLake has no indexes, so the check is a query: the new rows whose index values another
row (new or stored, with another primary key) already holds. As in MySQL, NULL values never
collide.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from labdata.catalog.ops.arrow import arrow_table
from labdata.core.errors import DuplicateError

if TYPE_CHECKING:
    from labdata.catalog.declare.definition import TableSchema
    from labdata.catalog.engine.lake import Lake

__all__ = ["check_unique_indexes"]


def check_unique_indexes(lake: Lake, target: str, schema: TableSchema, rows: list[dict[str, Any]],
                         skip_duplicates: bool) -> list[dict[str, Any]]:
    """Return ``rows`` (without those that collide, with ``skip_duplicates``).

    Raises
    ------
    DuplicateError
        Naming the index and the values, when a row collides and ``skip_duplicates`` is False.
    """
    for unique, names in schema.indexes:
        if unique and rows:
            colliding = _batch_collisions(rows, schema, names) | _stored_collisions(lake, target, schema, rows, names)
            if colliding and not skip_duplicates:
                shown = dict(zip(names, colliding.pop(), strict=True))
                raise DuplicateError(f"Duplicate entry {shown} for the unique index ({', '.join(names)}) of "
                                     f"{schema.class_name}.",
                                     hint="Another row holds these values; change them, or pass "
                                          "skip_duplicates=True to skip the row.")
            rows = [row for row in rows if tuple(row[n] for n in names) not in colliding]
    return rows


def _batch_collisions(rows: list[dict[str, Any]], schema: TableSchema, names: tuple[str, ...]) -> set[tuple]:
    """Index values that two new rows with different keys share."""
    first_key: dict[tuple, tuple] = {}
    colliding = set()
    for row in rows:
        values = tuple(row[n] for n in names)
        key = tuple(row[k] for k in schema.primary_key)
        if None not in values and first_key.setdefault(values, key) != key:
            colliding.add(values)
    return colliding


def _stored_collisions(lake: Lake, target: str, schema: TableSchema, rows: list[dict[str, Any]],
                       names: tuple[str, ...]) -> set[tuple]:
    """Index values of new rows that a stored row with another key holds."""
    staged = f"labdata_unique_{uuid.uuid4().hex}"
    columns = list(dict.fromkeys((*schema.primary_key, *names)))
    cursor = lake.cursor()
    cursor.register(staged, arrow_table(rows, schema, columns))
    try:
        same = " AND ".join(f't."{n}" = n."{n}"' for n in names)
        other_key = " OR ".join(f't."{k}" IS DISTINCT FROM n."{k}"' for k in schema.primary_key) or "FALSE"
        selected = ", ".join(f'n."{n}"' for n in names)
        found = cursor.execute(f"SELECT {selected} FROM {staged} n JOIN {target} t ON {same} "
                               f"WHERE {other_key}").fetchall()
    finally:
        cursor.unregister(staged)
    return {tuple(values) for values in found}
