"""The options every command that reaches a lake shares (``--path``, ``-p/--project``) and how it opens the lake.

Read commands never create anything: a lake folder without a catalog and a project the
lake does not have are errors (with the closest project name), not a new catalog or two
new schemas.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from labdata.core.errors import CatalogError, QueryError

__all__ = ["lake_options", "open_context", "open_lake", "restrict_option", "restrictions"]


def lake_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--path`` (a lake folder instead of the preferences' ``lake_path``) and ``-p/--project``."""
    command = click.option(
        "-p", "--project", default=None,
        help="Project (default: LABDATA_DATABASE_PROJECT or the preferences' database.project).")(command)
    return click.option("--path", "lake_path", default=None, type=click.Path(file_okay=False),
                        help="Lake folder (default: lake_path of the preference file).")(command)


def restrict_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``-r/--restrict``: a MySQL condition (``'session_datetime > "2024-01-01"'``) or a JSON object
    (``'{"subject_sex": "F"}'``, a dict restriction), repeatable (all must hold)."""
    return click.option("-r", "--restrict", "restricts", multiple=True, metavar="CONDITION",
                        help="A MySQL condition or a JSON object of attribute values (repeatable; all must hold), "
                        "e.g. -r 'session_datetime > \"2024-01-01\"'.")(command)


def restrictions(texts: tuple[str, ...]) -> list[Any]:
    """The restrictions of ``-r`` options: JSON objects as dicts, anything else as a MySQL condition."""
    parsed: list[Any] = []
    for text in texts:
        value = None
        if text.lstrip().startswith("{"):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as error:
                raise QueryError(f"-r {text!r} is not a JSON object: {error.msg}.",
                                 hint='Write a dict restriction as JSON, e.g. -r \'{"subject_sex": "F"}\'.') from None
        parsed.append(value if isinstance(value, dict) else text)
    return parsed


def open_context(path: str | None, project: str | None, *, create: bool = False) -> Any:
    """Open the lake (``path`` or the preferences') and check the project; return the context.

    Parameters
    ----------
    create : bool
        The command writes: a new lake or project may be made by its first insert.

    Raises
    ------
    CatalogError
        Reading a lake folder that holds no catalog.
    UnknownProjectError
        Reading a project the lake does not have.
    """
    import labdata
    from labdata.catalog.engine.sqlquery import require_project

    if not create:
        _require_catalog(path)
    context = labdata.connect(path, project=project)
    if not create:
        require_project(context)
    return context


def open_lake(path: str | None) -> Any:
    """Open an existing lake (``path`` or the preferences') without choosing a project; return its context.

    Raises
    ------
    CatalogError
        When the folder holds no catalog.
    """
    import labdata

    _require_catalog(path)
    return labdata.connect(path)


def _require_catalog(path: str | None) -> None:
    if path is not None:
        catalog = Path(path).expanduser() / "catalog" / "catalog.sqlite"
    else:
        from labdata.core.config import Preferences

        settings = Preferences.load().catalog
        if settings.kind != "sqlite":
            return
        catalog = Path(settings.dsn or Path(settings.lake_path) / "catalog" / "catalog.sqlite").expanduser()
    if not catalog.exists():
        raise CatalogError(f"No lake at {catalog.parent.parent} (no {catalog.name}); nothing was created.",
                           hint="Check --path or lake_path in the preference file; a new lake is made by "
                           "labdata demo --path DIR or by a first insert (labdata lab add-member --path DIR ...).")
