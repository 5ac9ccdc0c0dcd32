"""A lab's own tables: :class:`Schema`, DataJoint's schema decorator over labdata's catalog.

::

    schema = Schema("extras", parents=(labdata_registry,))

    @schema
    class Foo(Manual):
        definition = '''
        -> Session
        foo_id : int
        ---
        value = null : float
        '''

The tables of a schema named ``extras`` live, per project, in the catalog schema
``<project>_extras`` (``Schema("user")`` gives the original system's
``<project>_user``), next to ``<project>`` and ``<project>_computed``. As for
labdata's own tables nothing is opened at import: a schema's tables are created
in a lake when one of them is first used there, and a table declared after that
is created when it is declared. The declarations are recorded in the lake
(:mod:`labdata.catalog.ops.declarations`); declaring a class again is idempotent and
a changed definition raises :class:`~labdata.core.errors.DefinitionError`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import duckdb

from labdata.catalog.declare.registry import GROUPS, TableRegistry, check_group
from labdata.catalog.engine.context import Context, current_context
from labdata.catalog.ops.ddl import ensure_schemas
from labdata.catalog.ops.declarations import forget_declarations, sync_declarations
from labdata.catalog.populate.jobs import PopulateJob
from labdata.catalog.tables.table import Table
from labdata.core.errors import ConfigError, NotAllowedError

if TYPE_CHECKING:
    from labdata.catalog.tables.query import Query

__all__ = ["Schema", "SchemaRegistry"]


class SchemaRegistry(TableRegistry):
    """The tables of one :class:`Schema`; checks them against the lake before they are created."""

    def __init__(self, name: str, parents: tuple[TableRegistry, ...] = ()) -> None:
        super().__init__(parents)
        self.name = name
        self.last_context: Context | None = None

    def check_declarations(self, context: Context) -> None:
        """Raise DefinitionError if a table differs from the lake's; record the new declarations."""
        sync_declarations(context, [self.schema(name) for name in self.declaration_order()])
        self.last_context = context


class Schema:
    """A schema of a lab's own tables, used as a class decorator (DataJoint's ``dj.Schema``).

    Parameters
    ----------
    schema_name : str
        Lowercase name; the tables live in the catalog schema ``<project>_<schema_name>``
        of the project in use. Not ``lab``, ``data`` or ``computed``.
    context : dict, optional
        A namespace (DataJoint's ``locals()``) whose table classes, from other schemas,
        definitions may refer to. The decorated class's module is always searched.
    connection : Context, optional
        Bind the tables to this lake and project; default: the current context when used.
    parents : iterable of TableRegistry
        Registries whose tables definitions refer to by name (``labdata.schema.dj.Schema``
        passes labdata's documented tables).

    Examples
    --------
    >>> schema = Schema("extras")                       # doctest: +SKIP
    >>> @schema
    ... class Foo(Manual):
    ...     definition = "foo_id : int"
    """

    def __init__(self, schema_name: str, context: Mapping[str, Any] | None = None, *,
                 connection: Context | None = None, parents: Iterable[TableRegistry] = ()) -> None:
        if schema_name in GROUPS:
            raise ConfigError(f"{schema_name!r} is the name of one of labdata's own schema groups.",
                              hint="Choose another name, e.g. 'user' or the name of your plugin.")
        try:
            self.database = check_group(schema_name)
        except ValueError:
            raise ConfigError(f"{schema_name!r} is not a valid schema name.",
                              hint="Use lowercase letters, digits and '_', starting with a letter "
                                   "(at most 32 characters).") from None
        self.registry = SchemaRegistry(schema_name, tuple(parents))
        self.namespace = dict(context or {})
        self.connection = connection

    def __repr__(self) -> str:
        return f"Schema({self.database!r})"

    # ---- declaring ----------------------------------------------------------------
    def __call__(self, cls: type[Table]) -> type[Table]:
        """Declare ``cls`` (and its parts) in this schema; return it."""
        if not (isinstance(cls, type) and issubclass(cls, Table)) or not cls.tier or cls.tier == "part":
            raise TypeError(f"{cls!r} is not a Manual, Lookup, Imported or Computed table class.")
        module = sys.modules.get(cls.__module__)
        self._adopt_registries({**(vars(module) if module else {}), **self.namespace})
        saved = (dict(self.registry._classes), dict(self.registry._schemas))
        self.registry.group(self.database)(cls)
        try:
            self._bind(cls)
            for name in self.registry.declaration_order():
                self.registry.schema(name)  # parse now: a bad line or an unknown parent fails here
            self._create_now()
        except Exception:
            self.registry._classes, self.registry._schemas = saved
            self.registry.version += 1
            raise
        return cls

    def _create_now(self) -> None:
        """Once the schema was used, create (or check) a table when it is declared, not on next use."""
        context = self.registry.last_context
        if context is None:
            return
        try:
            ensure_schemas(context, self.registry)
        except duckdb.ConnectionException:
            self.registry.last_context = None  # that lake was closed: the next use creates the table

    def _adopt_registries(self, namespace: Mapping[str, Any]) -> None:
        """Let definitions refer to the tables of other schemas named in ``namespace``."""
        for value in namespace.values():
            registry = getattr(value, "_registry", None) if isinstance(value, type) else None
            if isinstance(registry, TableRegistry) and self.registry not in registry.family() \
                    and registry not in self.registry.family():
                self.registry.add_parent(registry)

    def _bind(self, cls: type[Table]) -> None:
        if self.connection is not None:
            cls._bound_context = self.connection
            for part in cls._part_classes():
                part._bound_context = self.connection

    # ---- in a lake ------------------------------------------------------------------
    def _context(self, context: Context | None) -> Context:
        return context or self.connection or current_context()

    def catalog_schema(self, context: Context | None = None) -> str:
        """The catalog schema holding the tables for the project in use (``<project>_<name>``)."""
        return self._context(context).schema_for(self.database)

    def list_tables(self, context: Context | None = None) -> list[str]:
        """The SQL names of the schema's tables in the lake (``foo``, ``foo__part``), sorted."""
        context = self._context(context)
        ensure_schemas(context, self.registry)
        return context.lake.tables(context.schema_for(self.database))

    @property
    def jobs(self) -> Query:
        """The populate jobs (reservations and errors) of this schema's tables."""
        context = self._context(None)
        return PopulateJob(context) & [{"table_name": cls._full_name} for cls in self.registry]

    def drop(self, force: bool = False, context: Context | None = None) -> None:
        """Drop every table of the schema, with its rows, in the project in use.

        Parameters
        ----------
        force : bool
            Drop without asking (otherwise the user confirms with ``yes``).
        context : Context, optional
            Default: the schema's connection, else the current context.
        """
        context = self._context(context)
        lake, schema = context.lake, context.schema_for(self.database)
        if lake.read_only:
            raise NotAllowedError(f"{lake!r} is read-only.", hint="Open the lake for writing to drop a schema.")
        if not force and input(f"Drop the schema {schema} and all its tables? [yes, No]: ").strip() != "yes":
            return

        def work() -> None:
            for table in lake.tables(schema):
                lake.execute(f'DROP TABLE IF EXISTS {lake.alias}."{schema}"."{table}"')
            lake.execute(f'DROP SCHEMA IF EXISTS {lake.alias}."{schema}"')

        lake.run(work)
        forget_declarations(context, schema)
        lake.ensured -= {m for m in lake.ensured if m[0] == id(self.registry) and m[2] == context.project}
