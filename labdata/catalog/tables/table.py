"""Table classes: the DataJoint-style tiers users declare and query.

A table is a class with a ``definition`` string, declared in a schema group by
a :class:`~labdata.catalog.declare.registry.TableRegistry` decorator::

    @data
    class Session(Manual):
        definition = '''
        -> Subject
        session_name : varchar(54)
        ---
        session_datetime = NULL : datetime
        '''

Part tables are nested classes deriving from :class:`Part`. Operators work on
the class and on instances (``Session & key`` and ``Session() & key``).
Which lake and project a table reads and writes is decided when it is used,
never at import: an instance bound with :meth:`Table.bind`, else the class's
bound context, else the current context (:mod:`labdata.catalog.engine.context`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from types import FunctionType
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar, cast

from labdata.catalog.engine.context import Context, current_context
from labdata.catalog.expr.nodes import Limit, Node, Restrict, Source
from labdata.catalog.ops.drop import drop_table
from labdata.catalog.ops.insert import insert_rows, update_row
from labdata.catalog.tables.query import Query
from labdata.core.errors import IntegrityError

if TYPE_CHECKING:
    from labdata.catalog.declare.definition import TableSchema
    from labdata.catalog.declare.registry import TableRegistry

__all__ = ["Lookup", "Manual", "Part", "Table"]

T = TypeVar("T", bound="Table")


class _TableMeta(type):
    """Lets operators, query methods and properties be used on the class itself.

    ``Session.insert1(row)`` and ``Session.heading`` work as on ``Session()``:
    a public function or property looked up on a declared table class is
    bound to a fresh instance.
    """

    def __getattribute__(cls, name: str) -> Any:
        value = super().__getattribute__(name)
        if (name.startswith("_") and name != "_repr_html_") or not isinstance(value, FunctionType | property):
            return value
        return getattr(cls(), name)

    def __and__(cls, restriction: Any) -> Query:
        return cast("Query", cls() & restriction)

    def __sub__(cls, restriction: Any) -> Query:
        return cast("Query", cls() - restriction)

    def __mul__(cls, other: Any) -> Query:
        return cast("Query", cls() * other)

    def __matmul__(cls, other: Any) -> Query:
        return cast("Query", cls() @ other)

    def __xor__(cls, restriction: Any) -> Query:
        return cast("Query", cls() ^ restriction)

    def __rmul__(cls, other: Any) -> Query:
        return cast("Query", other * cls())

    def __add__(cls, other: Any) -> Query:
        return cast("Query", cls() + other)

    def __radd__(cls, other: Any) -> Query:
        return cast("Query", other + cls())

    def __contains__(cls, item: Any) -> bool:
        return item in cls()

    def __repr__(cls) -> str:
        if getattr(cls, "_full_name", None) is None:
            return super().__repr__()
        return f"<table {cls._full_name} ({cls.tier})>"


class Table(Query, metaclass=_TableMeta):
    """Base class of declared tables (use a tier subclass)."""

    definition: ClassVar[str] = ""
    tier: ClassVar[str] = ""
    _full_name: ClassVar[str | None] = None
    _group: ClassVar[str] = ""
    _sql_name: ClassVar[str] = ""
    _registry: ClassVar[TableRegistry | None] = None
    _master: ClassVar[type[Table] | None] = None
    _bound_context: ClassVar[Context | None] = None

    def __init__(self, context: Context | None = None) -> None:
        bound = context or type(self)._bound_context
        super().__init__(self._source(bound.project if bound is not None else None), bound)

    @classmethod
    def _source(cls, project: str | None) -> Source:
        """The expression node of this table: where it lives and its heading (no connection)."""
        schema = cls.table_schema()
        declared = cls._registry.get(cls._full_name) if cls._registry is not None and cls._full_name else cls
        return Source(schema.class_name, schema.tier_group, schema.sql_name, project, schema.heading, declared)

    def __reduce__(self) -> tuple[Any, ...]:
        return _restored, (self.node.table_class if isinstance(self.node, Source) else _base_table(self.node),
                           self.node)

    # ---- restriction keeps the table's class (and its methods), as in DataJoint ------------
    def _restricted(self, node: Node) -> Self:
        """This table limited to the rows of ``node``: ``(File & key).get()`` calls File's methods on them."""
        restricted = copy.copy(self)
        restricted.__dict__.pop("_source_nodes", None)
        restricted._node = node
        return restricted

    # ---- identity -------------------------------------------------------
    @classmethod
    def _part_classes(cls) -> list[type[Table]]:
        return [value for name, value in vars(cls).items()
                if isinstance(value, type) and issubclass(value, Part) and not name.startswith("_")]

    @classmethod
    def table_schema(cls) -> TableSchema:
        """The parsed declaration: primary key, attributes, references."""
        if cls._registry is None or cls._full_name is None:
            raise TypeError(f"{cls.__name__} is not declared in a schema group.")
        return cls._registry.schema(cls._full_name)

    @classmethod
    def bind(cls, context: Context) -> type[Table]:
        """Return a subclass of this table (and of its parts) bound to ``context``."""
        namespace: dict[str, Any] = {"_bound_context": context, "__module__": cls.__module__,
                                     "__qualname__": cls.__qualname__, "__doc__": cls.__doc__}
        for part in cls._part_classes():
            namespace[part.__name__] = part.bind(context)
        return type(cls.__name__, (cls,), namespace)

    @property
    def context(self) -> Context:
        """The lake and project this table reads and writes: its own, its class's, else the current one."""
        return self._context or current_context()

    def _sibling(self, table: type[T]) -> T:
        """Return ``table`` (another declared table or part) in this table's lake and project.

        Methods reach the tables they read through this, so that ``(T & key).method()``
        on a table of ``load_project_schema("other")`` reads ``other``'s rows, not
        those of the current context.

        Parameters
        ----------
        table : type of Table
            The class, as imported (bound or not).

        Returns
        -------
        Table
            An instance of ``table`` bound to :attr:`context`.
        """
        return table(self.context)

    def _sibling_named(self, name: str) -> Table:
        """Return the declared table ``name`` (e.g. ``"SpikeSorting.Unit"``) in this table's lake and project.

        For methods mixed into the tables of a module that cannot import that module (it imports them):
        they reach its tables through this table's registry instead.
        """
        if self._registry is None:
            raise TypeError(f"{type(self).__name__} is not declared in a schema group.")
        return self._sibling(self._registry.get(name))

    def full_table_name(self) -> str:
        """Return ``schema.table`` in the catalog for the current context."""
        return f"{self.context.schema_for(self._group)}.{self._sql_name}"

    # ---- writing ----------------------------------------------------------
    def insert(self, rows: Any, *, replace: bool = False, skip_duplicates: bool = False,
               ignore_extra_fields: bool = False, allow_direct_insert: bool | None = None) -> int:
        """Insert rows given as dicts, a list of dicts or tuples, a DataFrame or an Arrow table.

        Parameters
        ----------
        rows : dict, sequence, pandas.DataFrame or pyarrow.Table
            The rows. Values are checked against the declared types and coerced
            where the conversion is lossless (an integer into a varchar).
        replace : bool
            Overwrite rows whose primary key exists.
        skip_duplicates : bool
            Keep existing rows and skip the new ones with the same key.
        ignore_extra_fields : bool
            Drop attributes the table does not have instead of raising.
        allow_direct_insert : bool, optional
            Needed to insert into an Imported or Computed table outside its ``make``.

        Returns
        -------
        int
            Number of rows written.

        Raises
        ------
        DuplicateError, MissingParentError, UnknownAttributeError, MissingAttributeError,
        WrongTypeError, ValueTooLongError, NotAllowedError
            Nothing is written when any row is rejected.
        """
        return insert_rows(self, rows, replace=replace, skip_duplicates=skip_duplicates,
                           ignore_extra_fields=ignore_extra_fields,
                           allow_direct_insert=allow_direct_insert)

    def insert1(self, row: Any, **kwargs: Any) -> int:
        """Insert one row (a dict, a tuple in attribute order, or a record); see :meth:`insert`."""
        return self.insert([row], **kwargs)

    def drop(self, *, safemode: bool | None = None) -> list[str]:
        """Drop this table and every table that depends on it, with their rows (DataJoint's ``drop``).

        Asks first at a terminal in safemode (default: ``dj.config['safemode']``). The classes
        stay declared: using one again creates its table, empty. Returns the dropped tables.
        """
        return drop_table(self, safemode=safemode)

    def update1(self, row: dict[str, Any]) -> None:
        """Update secondary attributes of the one row identified by the primary key in ``row``."""
        update_row(self, row)


def _base_table(node: Any) -> Any:
    """The declared class of the table a chain of restrictions starts from."""
    while isinstance(node, Restrict | Limit):
        node = node.child
    return node.table_class if isinstance(node, Source) else None


def _restored(table_class: Any, node: Any) -> Query:
    """Unpickle a table's query: the declared class again if there is one, else a plain query."""
    if table_class is None:
        return Query(node)
    restored: Query = table_class()
    restored._node = node
    return restored


class Manual(Table):
    """Data entered by people or by upload rules."""

    tier: ClassVar[str] = "manual"


class Lookup(Table):
    """Small reference tables; ``contents`` are inserted when the schema is created."""

    tier: ClassVar[str] = "lookup"
    contents: ClassVar[Iterable[Any]] = ()


class Part(Table):
    """A part of a master table, inserted together with it (and deleted with it, as in DataJoint)."""

    tier: ClassVar[str] = "part"

    def delete(self, force: bool = False, **options: Any) -> dict[str, int]:
        """Refuse to delete part rows directly unless ``force`` (or ``force_parts``), as DataJoint 0.14.

        Raises
        ------
        IntegrityError
            Without ``force``: delete the master's rows instead (their parts go with them).
        """
        if not (force or options.pop("force_parts", False)):
            raise IntegrityError("Cannot delete from a Part directly. Delete from master instead.",
                                 hint="Delete the master's rows (their parts go with them), or pass force=True.")
        return super().delete(force_parts=True, **options)

    def drop(self, force: bool = False, **options: Any) -> list[str]:
        """Refuse to drop a part table directly unless ``force``, as DataJoint 0.14 (then its master must go too)."""
        if not force:
            raise IntegrityError("Cannot drop a Part directly. Drop the master instead.",
                                 hint="Call drop() on the master table.")
        return super().drop(**options)
