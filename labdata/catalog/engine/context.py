"""Which lake and project table operations use.

A :class:`Context` pairs an open :class:`~labdata.catalog.engine.Lake` with a
project name. Tables resolve their context when they are used, in this order:
an instance bound explicitly, a class bound by ``load_project_schema``, the
context set with :func:`use`, and finally the default context opened on first
use from the preference file. Nothing is opened or read at import time.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

from labdata.catalog.declare.registry import LAB_SCHEMA, schema_name
from labdata.catalog.engine.lake import Lake
from labdata.core.config import Preferences
from labdata.core.errors import ConfigError

__all__ = ["DEFAULT_PROJECT", "Context", "DefaultContextFactory", "current_context", "use"]

DEFAULT_PROJECT = "lab_data"
_PROJECT_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


@dataclass(frozen=True)
class Context:
    """A lake and the project whose schemas tables read and write.

    Parameters
    ----------
    lake : Lake
        The open catalog.
    project : str
        Project name; its data schema is ``<project>`` and its computed schema
        ``<project>_computed``.
    preferences : Preferences, optional
        Storages, local paths and the rest of the configuration that file methods use;
        read from the preference file when first needed if not given.
    """

    lake: Lake
    project: str = DEFAULT_PROJECT
    preferences: Preferences | None = field(default=None, compare=False)

    def prefs(self) -> Preferences:
        """The preferences of this context (loaded from the preference file if none were given)."""
        if self.preferences is None:
            object.__setattr__(self, "preferences", Preferences.load())
        return self.preferences

    def __post_init__(self) -> None:
        if not _PROJECT_NAME.fullmatch(self.project or "") or self.project == LAB_SCHEMA:
            raise ConfigError(
                f"{self.project!r} is not a valid project name.",
                hint="Project names are lowercase letters, digits and '_', start with a letter, "
                f"at most 32 characters, and not {LAB_SCHEMA!r}.",
            )

    def schema_for(self, group: str) -> str:
        """Return the catalog schema name holding tables of ``group``."""
        return schema_name(group, self.project)

    def qualified(self, group: str, sql_name: str) -> str:
        """Return the quoted ``lake.schema.table`` name of a table."""
        return f'{self.lake.alias}."{self.schema_for(group)}"."{sql_name}"'


class DefaultContextFactory:
    """Opens the default context from the preference file, once per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._context: Context | None = None

    def get(self) -> Context:
        """Return the default context, opening it on first call."""
        with self._lock:
            if self._context is None:
                self._context = self._open()
            return self._context

    def set(self, context: Context) -> None:
        """Make ``context`` the default of this process (closing the previous default)."""
        with self._lock:
            if self._context is not None and self._context.lake is not context.lake:
                self._context.lake.close()
            self._context = context

    def reset(self) -> None:
        """Forget the default context (it is reopened on next use)."""
        with self._lock:
            if self._context is not None:
                self._context.lake.close()
            self._context = None

    @staticmethod
    def _open() -> Context:
        preferences = Preferences.load()
        lake = Lake.from_settings(preferences.catalog)
        return Context(lake, preferences.project or DEFAULT_PROJECT, preferences)


_current: ContextVar[Context | None] = ContextVar("labdata_context", default=None)
default_contexts = DefaultContextFactory()


def current_context() -> Context:
    """Return the context set with :func:`use`, else the default one."""
    return _current.get() or default_contexts.get()


@contextlib.contextmanager
def use(context: Context) -> Iterator[Context]:
    """Make ``context`` the current one inside a ``with`` block.

    Examples
    --------
    >>> with use(Context(lake, "mice")):          # doctest: +SKIP
    ...     Subject.insert1(row)
    """
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def set_current(context: Context | None) -> None:
    """Set the current context for this thread until changed (``None`` restores the default)."""
    _current.set(context)
