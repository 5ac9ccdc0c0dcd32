"""The facade's work, apart from the wire: who may connect, what they see, and running their statements.

A :class:`Facade` holds the lab's lake (writes, through the Python API), a read-only attach of its catalog
(every read, each session on a cursor of its own), and what the catalog holds as of its latest snapshot
(schemas, projects, tables, the MySQL view of their columns), read again when the snapshot changes.
"""

from __future__ import annotations

import collections
import importlib
import inspect
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labdata.catalog.declare.registry import schema_name
from labdata.catalog.engine.context import DEFAULT_PROJECT, Context
from labdata.catalog.engine.lake import Lake
from labdata.catalog.engine.replica import TableRef as ReplicaRef
from labdata.catalog.engine.sqlquery import projects as lake_projects
from labdata.catalog.tables.table import Table
from labdata.core.errors import AccountError
from labdata.schema._registry import registry as documented
from labdata.server import accounts
from labdata.server.admin_views import FacadeError
from labdata.server.catalog_info import TableInfo, describe_keys, describe_lake
from labdata.server.grants import Grants, kind_of
from labdata.server.statements import FacadeStatementError, TableRef

if TYPE_CHECKING:
    from labdata.core.config import Preferences

__all__ = ["CatalogState", "Facade", "SessionRecord"]

STATE_SECONDS = 1.0


@dataclass(frozen=True)
class CatalogState:
    """The catalog as of one snapshot: its schemas, projects and the tables of each schema."""

    snapshot: int
    schemas: tuple[str, ...]
    projects: tuple[str, ...]
    tables: dict[str, frozenset[str]]


@dataclass
class SessionRecord:
    """One connection, for the admin's view: account, since when, and the statement running (if any)."""

    connection_id: int
    account: str
    connected: float = field(default_factory=time.time)
    statement: str | None = None
    started: float | None = None


class Facade:
    """A lake served to MySQL clients.

    Parameters
    ----------
    lake : Lake
        The lab's lake (written through the Python API).
    lab_name : str
        The lab-wide MySQL database name (the ``database.name`` preference); projects are ``<lab_name>_<p>``.
    preferences : Preferences, optional
        Storages and the rest, for the contexts writes run in.
    imports : iterable of str
        Modules declaring a lab's own tables, so that facade writes reach them through their classes.
    query_timeout : float, optional
        Seconds after which a statement is cancelled.
    """

    def __init__(self, lake: Lake, *, lab_name: str = "lab_data", preferences: Preferences | None = None,
                 imports: Iterable[str] = (), query_timeout: float | None = None) -> None:
        self.lake, self.lab_name, self.preferences = lake, lab_name.lower(), preferences
        self.query_timeout = query_timeout
        self.reader = lake.reopened(read_only=True, replica=False)
        self._classes = list(documented) + [cls for name in imports for cls in _tables_in(name)]
        self._lock = threading.Lock()
        self._state: CatalogState | None = None
        self._checked = 0.0
        self._keys: dict[tuple[str, str], tuple[str, ...]] = {}
        self._keys_snapshot: int | None = None
        self._described: tuple[int, dict[tuple[str, str], TableInfo]] | None = None
        self.sessions: dict[int, SessionRecord] = {}
        self.errors: collections.deque[FacadeError] = collections.deque(maxlen=200)

    def close(self) -> None:
        """Close the read-only attach (the lake is the caller's)."""
        self.reader.close()

    # ---- accounts --------------------------------------------------------------------------------------
    def authenticate(self, name: str, password: str) -> Grants | None:
        """The grants of ``name`` when ``password`` is right, else None."""
        try:
            return accounts.verify_password(self.lake, name, password)
        except AccountError:
            return None

    # ---- the catalog as of its latest snapshot -------------------------------------------------------
    def fresh_state(self) -> CatalogState | None:
        """The state when it was checked less than ``STATE_SECONDS`` ago (no catalog read), else None."""
        with self._lock:
            if self._state is not None and time.monotonic() - self._checked < STATE_SECONDS:
                return self._state
        return None

    def state(self) -> CatalogState:
        """Schemas, projects and tables at the latest snapshot, checked at most every ``STATE_SECONDS``
        (a table or project created elsewhere shows within that; the facade's own writes show at once)."""
        fresh = self.fresh_state()
        if fresh is not None:
            return fresh
        snapshot = self.lake.current_snapshot()
        with self._lock:
            self._checked = time.monotonic()
            if self._state is not None and self._state.snapshot == snapshot:
                return self._state
        schemas = tuple(self.lake.schemas())
        tables = self.lake.tables_of(list(schemas))
        state = CatalogState(snapshot, schemas, tuple(lake_projects(self.lake)),
                             {schema: frozenset(names) for schema, names in tables.items()})
        with self._lock:
            self._state = state
        return state

    def described(self, grants: Grants) -> dict[tuple[str, str], TableInfo]:
        """The MySQL view of every table the account may see, by (database, table)."""
        state = self.state()
        with self._lock:
            cached = self._described
        if cached is None or cached[0] != state.snapshot:
            cached = (state.snapshot, describe_lake(self.lake, state.schemas, self.lab_name, _Registry(self._classes),
                                                    state.projects))
            with self._lock:
                self._described = cached
        visible = set(grants.visible(state.schemas, state.projects))
        return {key: info for key, info in cached[1].items() if info.schema in visible}

    def forget_state(self) -> None:
        """Read the catalog's state again at the next statement (after a write through the facade)."""
        with self._lock:
            self._checked = 0.0

    # ---- reads through the lake's replica --------------------------------------------------------------
    def read_catalog(self, reads: Iterable[TableRef]) -> str | None:
        """The lake's read replica, brought up to date for ``reads``, when it can answer them; else None.

        The replica holds local copies of the tables read (see :mod:`labdata.catalog.engine.replica`): a point
        query costs about a millisecond there, against 10-30 ms of DuckLake's catalog lookups on the attach.
        """
        replica, refs = self.lake.replica, []
        if replica is None:
            return None
        for ref in reads:
            key = self._key_of(ref.schema, ref.name)
            if not key:
                return None
            refs.append(ReplicaRef(ref.schema, ref.name, key))
        catalog = replica.catalog_for(refs)
        return catalog if catalog == replica.alias else None

    def _key_of(self, schema: str, name: str) -> tuple[str, ...]:
        """The table's primary key (empty for a table nothing declares), described again once per snapshot."""
        state = self.state()
        if (schema, name) not in self._keys and self._keys_snapshot != state.snapshot:
            self._keys.update(describe_keys(self.lake, state.projects, _Registry(self._classes)))
            self._keys_snapshot = state.snapshot
        return self._keys.get((schema, name), ())

    # ---- writes ------------------------------------------------------------------------------------------
    def table_for(self, ref: TableRef) -> Any:
        """The declared table behind ``ref``, bound to the lake and its project, ready for insert / delete."""
        state = self.state()
        project = kind_of(ref.schema, state.projects).project or (state.projects[0] if state.projects
                                                                  else DEFAULT_PROJECT)
        for cls in self._classes:
            table = cls.table_schema()
            if table.sql_name == ref.name and schema_name(table.tier_group, project) == ref.schema:
                return cls(Context(self.lake, project, self.preferences))
        raise FacadeStatementError(
            f"The facade cannot write `{ref.database}`.`{ref.name}`: its table class is not loaded", 1036,
            hint="Start the server with -i MODULE for the module that declares the lab's own tables.")


class _Registry:
    """The table classes the facade knows, as :func:`describe_lake` reads them (by class name)."""

    def __init__(self, classes: list[type[Table]]) -> None:
        self._by_name = {cls._full_name: cls for cls in classes}

    def __iter__(self) -> Any:
        return iter(self._by_name.values())

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def schema(self, name: str) -> Any:
        return self._by_name[name].table_schema()


def _tables_in(module_name: str) -> list[type[Table]]:
    """The declared table classes (and their parts) of a module of the lab's own tables."""
    module = importlib.import_module(module_name)
    found: list[type[Table]] = []
    for _, value in inspect.getmembers(module, inspect.isclass):
        if issubclass(value, Table) and value.__module__ == module.__name__ and getattr(value, "definition", None):
            found.append(value)
            found.extend(part for _, part in inspect.getmembers(value, inspect.isclass)
                         if issubclass(part, Table) and getattr(part, "definition", None))
    return found
