"""Tables of another project: ``load_project_schema``."""

from __future__ import annotations

from types import SimpleNamespace

from labdata.catalog.engine.context import Context, current_context
from labdata.schema._registry import registry

__all__ = ["load_project_schema"]


def load_project_schema(name: str, *, context: Context | None = None) -> SimpleNamespace:
    """Return the tables of project ``name``, bound to it, as attributes of a namespace.

    Lab-wide tables (LabMember, File, ...) are shared by every project; data and
    computed tables read and write ``<name>`` and ``<name>_computed``.

    Parameters
    ----------
    name : str
        Project name.
    context : Context, optional
        Where the lake is; default the current context.

    Examples
    --------
    >>> other = load_project_schema("mice")            # doctest: +SKIP
    >>> other.Session & 'subject_name = "JC178"'        # doctest: +SKIP
    """
    lake = (context or current_context()).lake
    bound = Context(lake, name)
    tables = {cls.__name__: cls.bind(bound) for cls in registry if cls._master is None}
    return SimpleNamespace(**tables, context=bound)
