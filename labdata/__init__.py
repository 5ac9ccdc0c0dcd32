"""labdata: a data lake for experimental neuroscience labs.

Raw recordings go to object storage, arrays to NWB and Zarr, and metadata to a
DuckLake catalog queried with SQL or with a DataJoint-compatible algebra::

    import labdata
    labdata.connect("~/labdata/lake", project="mice")
    from labdata.schema import *
    Session & 'subject_name = "JC178"'
    labdata.sql("SELECT count(*) FROM session")

Importing labdata reads no configuration and opens nothing; the heavy parts
are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from labdata.core.errors import LabdataError

__version__ = "0.2.0.dev0"
__all__ = ["Context", "LabdataError", "Lake", "__version__", "connect", "load_project_schema", "sql", "use"]

_LAZY = {
    "Context": "labdata.catalog.engine.context",
    "Lake": "labdata.catalog.engine.lake",
    "use": "labdata.catalog.engine.context",
    "load_project_schema": "labdata.schema.projects",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'labdata' has no attribute {name!r}")


def connect(path: str | None = None, *, project: str | None = None, kind: str | None = None,
            dsn: str | None = None, data_path: str | None = None, arrays: str | None = None) -> Any:
    """Open a lake and make it the default for this process.

    Parameters
    ----------
    path : str, optional
        Lake folder; default from the preference file (``lake_path``). ``mysql://user[:password]@host[:port]``
        (or ``kind="mysql"``, which reads ``database.host``, ``database.user`` and ``database.password`` from
        the preferences, as the original did) opens the lab's lake through its facade, with the account's grants
        (remote mode, :mod:`labdata.catalog.engine.remote`).
    project : str, optional
        Project; default ``LABDATA_DATABASE_PROJECT`` or ``database.project``.
    kind : {"sqlite", "postgres"}, optional
        Catalog database; default from the preference file.
    dsn : str, optional
        PostgreSQL connection string for ``kind="postgres"``.
    data_path : str, optional
        Where Parquet data files go (default ``<path>/catalog/data``).
    arrays : str, optional
        Remote mode: the lake folder the arrays are read from (a shared file system); default the
        preferences' ``lake_path``.

    Returns
    -------
    Context
        The lake and project now used by the tables.
    """
    from labdata.catalog.engine.context import DEFAULT_PROJECT, Context, default_contexts
    from labdata.catalog.engine.lake import Lake

    preferences = None
    if kind == "mysql" or (path or "").startswith("mysql://"):
        from labdata.core.config import Preferences

        preferences = Preferences.load()
        lake = _remote_lake(path, preferences, arrays)
        project = project or preferences.project
    elif path is not None and kind in (None, "sqlite"):  # an explicit embedded lake: no preferences needed
        lake = Lake("sqlite", path, dsn=dsn, data_path=data_path)
    else:
        from labdata.core.config import Preferences

        preferences = Preferences.load()
        settings = preferences.catalog
        kind = kind or settings.kind
        same_kind = kind == settings.kind
        lake = Lake(kind, path or settings.lake_path, dsn=dsn or (settings.dsn if same_kind else None),
                    data_path=data_path or (settings.data_path if path is None else None),
                    replica=settings.replica, data_storage=settings.data_storage)
        project = project or preferences.project
    context = Context(lake, project or DEFAULT_PROJECT, preferences)
    default_contexts.set(context)
    return context


def _remote_lake(url: str | None, preferences: Any, arrays: str | None) -> Any:
    """A RemoteLake for ``url``, or for the preferences' ``database`` section when it is None."""
    from labdata.catalog.engine.remote import RemoteAddress, RemoteLake

    user = preferences.get("database.user")
    if url is None:
        url = f"mysql://{user or ''}@{preferences.get('database.host') or 'localhost'}"
    address = RemoteAddress.parse(url)
    stored = preferences.secret("database.password") if user in (None, address.user) else None
    return RemoteLake(address, password=address.password or stored, root=arrays or preferences.catalog.lake_path)


def sql(query: str, params: Any = None, *, write: bool = False) -> Any:
    """Run one DuckDB SQL statement over the tables of the current project (and the lab-wide ones).

    Only reading statements run unless ``write=True``; even then rows of labdata's tables
    are never written by SQL (use ``Table.insert`` and ``(Table & restriction).delete()``),
    see :func:`labdata.catalog.engine.sqlquery.run_sql`.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    SQLWriteError
        For a statement that would change rows, or several statements.
    """
    from labdata.catalog.engine.context import current_context
    from labdata.catalog.engine.sqlquery import run_sql

    return run_sql(current_context(), query, params, write=write)
