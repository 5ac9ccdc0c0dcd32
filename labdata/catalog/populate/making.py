"""Making keys: the key source, the keys still to make, and the worker loop that makes them.

Each ``make`` runs in one write transaction, so a master row and its parts
commit together or not at all; inserts into the table are allowed only while
its ``make`` runs. With ``reserve_jobs`` a worker first reserves each key in
the job table (:mod:`labdata.catalog.populate.jobs`), so that several workers, in one
process pool or on several machines, never make the same key; failures are
recorded there with their traceback.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import random
import signal
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labdata.catalog.ops.ddl import ensure_schemas
from labdata.catalog.populate.jobs import JobTable, job_registry
from labdata.catalog.tables.query import Query
from labdata.core.errors import NotAllowedError

if TYPE_CHECKING:
    from labdata.catalog.tables.table import Table

__all__ = ["PopulateResult", "default_key_source", "key_source", "populate_errors", "sigterm_exits",
           "todo_keys"]

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class PopulateResult(Mapping[str, Any]):
    """What a populate call did: ``made`` keys, ``skipped`` count, ``errors`` as (key, message).

    It is also DataJoint 0.14's return value, a mapping with ``success_count`` (makes that
    succeeded) and ``error_list`` (the errors, when ``suppress_errors``)::

        populate(...)["success_count"]
    """

    made: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0
    errors: list[tuple[dict[str, Any], Any]] = field(default_factory=list)

    def __getitem__(self, name: str) -> Any:
        if name == "success_count":
            return len(self.made)
        if name == "error_list":
            return list(self.errors)
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(("success_count", "error_list"))

    def __len__(self) -> int:
        return 2


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
    """The table's ``key_source``, restricted.

    ``key_source`` may be a property (DataJoint's spelling) or a method without arguments,
    evaluated on ``table`` itself (so that it reads ``table``'s lake and project), or a query;
    default: :func:`default_key_source`.
    """
    declared = inspect.getattr_static(type(table), "key_source", None)
    source: Any = table.key_source if declared is not None else None
    source = source() if callable(source) and not isinstance(source, Query) else source
    if not isinstance(source, Query):
        source = default_key_source(table)
    for restriction in restrictions:
        source = source & restriction
    return source


def todo_keys(table: Table, restrictions: tuple[Any, ...], *, order: str = "original",
              limit: int | None = None) -> list[dict[str, Any]]:
    """The keys of the key source, restricted, that the table does not have yet (at most ``limit``),
    in ``order``: ``original`` (primary key), ``reverse`` or ``random``, as DataJoint's populate."""
    if order not in ("original", "reverse", "random"):
        raise NotAllowedError(f"Unknown populate order {order!r}.", hint="Use 'original', 'reverse' or 'random'.")
    keys = (key_source(table, restrictions) - table.proj()).fetch("KEY", order_by="KEY", limit=limit)
    if order == "reverse":
        keys.reverse()
    elif order == "random":
        random.shuffle(keys)
    return keys


SIGTERM_MESSAGE = "SIGTERM received"


@contextmanager
def sigterm_exits() -> Iterator[threading.Event]:
    """While populating with reserved jobs, SIGTERM raises SystemExit, so that the job records it (as DataJoint).

    Yields an event set when SIGTERM arrived: a signal that lands inside a DuckDB call comes back as DuckDB's
    "Query interrupted" error instead, which the populate loop (:mod:`.batches`) turns into SystemExit
    by looking at the event.
    A handler installed before (a compute task's) is called first, so that it learns of the signal too.
    """
    received = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = signal.getsignal(signal.SIGTERM)

    def handler(signum: int, frame: Any) -> None:
        received.set()
        logger.info("Populate terminated by SIGTERM")
        if callable(previous):
            with contextlib.suppress(BaseException):  # the outer handler notes the signal; populate's exit wins
                previous(signum, frame)
        raise SystemExit(SIGTERM_MESSAGE)

    signal.signal(signal.SIGTERM, handler)
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, previous)


def populate_errors(table: Table) -> list[dict[str, Any]]:
    """The keys whose make failed under ``reserve_jobs``, with message and traceback."""
    ensure_schemas(table.context, job_registry)
    return JobTable(table._full_name, table.context).errors()

