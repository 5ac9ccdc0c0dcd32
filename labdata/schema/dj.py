"""``dj``: DataJoint 0.14's names over labdata, so a lab's DataJoint code runs with one import changed.

Replace ``import datajoint as dj`` with ``from labdata.schema import dj`` (or
``import labdata.schema.dj as dj``)::

    from labdata.schema import dj

    schema = dj.Schema("extras")           # dj.Schema("extras", locals()) works too

    @schema
    class Foo(dj.Manual):
        definition = '''
        -> Session
        foo_id : int
        ---
        value = null : float
        '''

Definitions may refer to labdata's documented tables (``-> Session``), to the
schema's own tables and to tables of other schemas imported in the module. The
tables of schema ``extras`` live in the catalog schema ``<project>_extras`` of
the project in use (``dj.Schema("user")`` is the original system's
``<project>_user``); see :mod:`labdata.schema.user_schema`.

Also here: the tiers (``Manual``, ``Lookup``, ``Imported``, ``Computed``,
``Part``), ``U``, ``AndList``, ``Not``, ``key`` (fetch the primary key),
``Top`` (``q & Top(limit, order_by, offset)``), ``config`` (a dict whose ``display.limit`` and
``display.width`` previews honour), ``errors`` and ``DataJointError`` (labdata's :class:`LabdataError`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from types import SimpleNamespace
from typing import Any

from labdata.catalog import Computed, Imported, Lookup, Manual, Part, Table
from labdata.catalog.engine.context import Context
from labdata.catalog.expr.predicates import AndList, Not, Top
from labdata.catalog.ops.confirm import SETTINGS
from labdata.catalog.tables.preview import DISPLAY
from labdata.catalog.tables.query import U
from labdata.core import errors as _errors
from labdata.core.errors import LabdataError
from labdata.schema import user_schema
from labdata.schema._registry import registry

__all__ = ["AndList", "Computed", "DataJointError", "Imported", "Lookup", "Manual", "Not", "Part", "Schema",
           "Table", "Top", "U", "config", "errors", "key", "schema"]

DataJointError = LabdataError
key = "KEY"
"""``fetch(dj.key)`` fetches the primary keys, as ``fetch('KEY')``."""

errors = SimpleNamespace(
    DataJointError=LabdataError,
    DuplicateError=_errors.DuplicateError,
    IntegrityError=_errors.IntegrityError,
    MissingAttributeError=_errors.MissingAttributeError,
    UnknownAttributeError=_errors.UnknownAttributeError,
    MissingTableError=_errors.UnknownTableError,
    QueryError=_errors.QueryError,
    AccessError=_errors.NotAllowedError,
)


class Schema(user_schema.Schema):
    """DataJoint's ``dj.Schema``: a class decorator declaring a lab's own tables.

    Parameters
    ----------
    schema_name : str
        Lowercase name; the tables live in ``<project>_<schema_name>``.
    context : dict, optional
        DataJoint's ``locals()``: a namespace of tables definitions may refer to.
    connection : Context, optional
        Bind the tables to this lake and project (default: the context in use).

    Examples
    --------
    >>> schema = Schema("extras")                       # doctest: +SKIP
    >>> schema.list_tables()                            # doctest: +SKIP
    ['foo', 'foo_stats', 'foo_stats__channel']
    """

    def __init__(self, schema_name: str, context: Mapping[str, Any] | None = None, *,
                 connection: Context | None = None) -> None:
        super().__init__(schema_name, context, connection=connection, parents=(registry,))


schema = Schema  # DataJoint's older spelling


class Config(MutableMapping[str, Any]):
    """DataJoint's ``dj.config``: any key may be set; ``display.limit``, ``display.width`` and
    ``display.show_tuple_count`` change previews; ``safemode`` whether deletes and drops ask first
    (at a terminal)."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        return DISPLAY[name] if name in DISPLAY else SETTINGS[name] if name in SETTINGS else self._values[name]

    def __setitem__(self, name: str, value: Any) -> None:
        if name in DISPLAY:
            DISPLAY[name] = bool(value) if isinstance(DISPLAY[name], bool) else int(value)
        elif name in SETTINGS:
            SETTINGS[name] = bool(value)
        else:
            self._values[name] = value

    def __delitem__(self, name: str) -> None:
        del self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter([*DISPLAY, *SETTINGS, *self._values])

    def __len__(self) -> int:
        return len(DISPLAY) + len(SETTINGS) + len(self._values)

    def __repr__(self) -> str:
        return f"Config({dict(self)!r})"


config = Config()
