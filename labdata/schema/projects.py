"""Tables of another project: ``load_project_schema``."""

from __future__ import annotations

from dataclasses import replace
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
        Where the lake is, and the preferences (storages, local paths) the tables'
        methods use; default the current context.

    Examples
    --------
    >>> other = load_project_schema("mice")            # doctest: +SKIP
    >>> other.Session & 'subject_name = "JC178"'        # doctest: +SKIP
    """
    bound = replace(context or current_context(), project=name)
    tables = {cls.__name__: cls.bind(bound) for cls in registry if cls._master is None}
    return SimpleNamespace(**tables, context=bound)
