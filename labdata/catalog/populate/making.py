"""Making keys: the key source, the keys still to make, and the worker loop that makes them.

Each ``make`` runs in one write transaction, so a master row and its parts
commit together or not at all; inserts into the table are allowed only while
its ``make`` runs. With ``reserve_jobs`` a worker first reserves each key in
the job table (:mod:`labdata.catalog.populate.jobs`), so that several workers, in one
process pool or on several machines, never make the same key; failures are
recorded there with their traceback.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from labdata.catalog.engine.context import use
from labdata.catalog.ops.ddl import ensure_schemas
from labdata.catalog.ops.insert import making
from labdata.catalog.populate.jobs import JobTable, job_registry
from labdata.catalog.tables.query import Query
from labdata.core.errors import NotAllowedError

if TYPE_CHECKING:
    from labdata.catalog.tables.table import Table

__all__ = ["PopulateResult", "default_key_source", "key_source", "make_keys", "populate_errors", "todo_keys"]

logger = logging.getLogger(__name__)


@dataclass
class PopulateResult:
    """What a populate call did."""

    made: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0
    errors: list[tuple[dict[str, Any], str]] = field(default_factory=list)


def default_key_source(table: Table) -> Query:
    """The join of the tables the primary key references, projected to the primary key."""
    schema = table.table_schema()
    parents = [fk for fk in schema.foreign_keys if fk.in_key]
    if not parents:
        raise NotAllowedError(f"{schema.class_name} references no table in its primary key.",
                              hint="Define key_source on the class.")
    joined: Query | None = None
    for reference in parents:
        parent: Query = table._sibling(table._registry.get(reference.parent))
        renames = {child: parent_name for child, parent_name in reference.attribute_map if child != parent_name}
        if renames:
            parent = parent.proj(**renames)
        joined = parent if joined is None else joined * parent
    assert joined is not None
    return joined.proj()


def key_source(table: Table, restrictions: tuple[Any, ...] = ()) -> Query:
    """The table's ``key_source`` (a query or a method; default: :func:`default_key_source`), restricted."""
    source = getattr(type(table), "key_source", None)
    source = source(table) if callable(source) else source if isinstance(source, Query) \
        else default_key_source(table)
    for restriction in restrictions:
        source = source & restriction
    return source


def todo_keys(table: Table, restrictions: tuple[Any, ...]) -> list[dict[str, Any]]:
    """The keys of the key source, restricted, that the table does not have yet."""
    return (key_source(table, restrictions) - table.proj()).fetch("KEY", order_by="KEY")


def make_keys(table: Table, keys: list[dict[str, Any]], *, reserve_jobs: bool, suppress_errors: bool,
              display_progress: bool, make_kwargs: dict[str, Any] | None) -> PopulateResult:
    """Make each key in turn (the worker loop, also used by each process of a pool)."""
    context = table.context
    jobs = None
    if reserve_jobs:
        ensure_schemas(context, job_registry)
        jobs = JobTable(table._full_name, context)
    result = PopulateResult()
    for key in tqdm(keys, desc=f"populate {table._full_name}", disable=not display_progress):
        if jobs is not None and not jobs.reserve(key):
            result.skipped += 1
            continue
        try:
            made = _make_one(table, key, make_kwargs or {})
        except Exception as error:  # noqa: BLE001 - every make failure is recorded per key
            if jobs is not None:
                jobs.error(key, error)
            if not suppress_errors:
                raise
            logger.warning("make(%s) failed: %s", key, error)
            result.errors.append((key, f"{type(error).__name__}: {error}"))
            continue
        if jobs is not None:
            jobs.complete(key)
        if made:
            result.made.append(key)
        else:
            result.skipped += 1
    return result


def _make_one(table: Table, key: dict[str, Any], make_kwargs: dict[str, Any]) -> bool:
    """Run make(key) in one retried transaction; False if another worker made the key meanwhile."""
    lake, master = table.context.lake, type(table)

    def work() -> bool:
        if table & key:
            return False
        with making(master), use(table.context):  # tables named inside make use the same lake and project
            table.make(dict(key), **make_kwargs)
        return True

    return lake.run(work)


def populate_errors(table: Table) -> list[dict[str, Any]]:
    """The keys whose make failed under ``reserve_jobs``, with message and traceback."""
    ensure_schemas(table.context, job_registry)
    return JobTable(table._full_name, table.context).errors()

