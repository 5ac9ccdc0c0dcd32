"""populate: call ``make(key)`` for every key of ``key_source`` not yet in the table.

Each ``make`` runs in one write transaction, so a master row and its parts
commit together or not at all; inserts into the table are allowed only while
its ``make`` runs. With ``reserve_jobs`` a worker first reserves each key in
the job table (:mod:`labdata.catalog.jobs`), so that several workers, in one
process pool or on several machines, never make the same key; failures are
recorded there with their traceback.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labdata.catalog.context import use
from labdata.catalog.ddl import ensure_schemas
from labdata.catalog.expr import Join
from labdata.catalog.insert import making
from labdata.catalog.jobs import JobTable, job_registry
from labdata.catalog.query import Query
from labdata.core.errors import NotAllowedError

if TYPE_CHECKING:
    from labdata.catalog.table import Table

__all__ = ["PopulateResult", "default_key_source", "key_source", "make_keys", "populate", "populate_errors", "todo_keys"]

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
    node = None
    for reference in parents:
        parent = table._registry.get(reference.parent)(table.context)
        query: Query = parent
        renames = {child: parent_name for child, parent_name in reference.attribute_map if child != parent_name}
        if renames:
            query = parent.proj(**renames)
        node = query.node if node is None else Join(node, query.node)
    return Query(node).proj()


def populate(table: Table, *restrictions: Any, reserve_jobs: bool = False, suppress_errors: bool = False,
             max_calls: int | None = None, display_progress: bool = False, processes: int = 1,
             make_kwargs: dict[str, Any] | None = None) -> PopulateResult:
    """Implement :meth:`Table.populate`."""
    if not callable(getattr(table, "make", None)):
        raise NotAllowedError(f"{table._full_name} has no make() method.", hint="Define make(self, key).")
    keys = todo_keys(table, restrictions)[: max_calls or None]
    if processes > 1 and len(keys) > 1:
        from labdata.catalog.pool import populate_in_processes

        return populate_in_processes(table, keys, processes=processes, suppress_errors=suppress_errors,
                                     display_progress=display_progress, make_kwargs=make_kwargs)
    return make_keys(table, keys, reserve_jobs=reserve_jobs, suppress_errors=suppress_errors,
                     display_progress=display_progress, make_kwargs=make_kwargs)


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
    from tqdm import tqdm

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

