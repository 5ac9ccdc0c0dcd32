"""How commands report labdata's errors: the message and its hint, exit status 1."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from labdata.core.errors import LabdataError

__all__ = ["reports_errors"]


def reports_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Print a LabdataError (or a missing or unreadable file) as its message and hint, and exit 1
    (``LABDATA_DEBUG=1`` shows the traceback)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except LabdataError as error:
            if os.environ.get("LABDATA_DEBUG") == "1":
                raise
            message, hint = str(error).split("\nhint: ")[0], error.hint
            click.secho(f"Error: {message}", fg="red", err=True)
            if hint:
                click.echo(f"hint: {hint}", err=True)
            sys.exit(1)
        except (PermissionError, FileNotFoundError) as error:
            if os.environ.get("LABDATA_DEBUG") == "1":
                raise
            click.secho(f"Error: {error}", fg="red", err=True)
            sys.exit(1)

    return wrapper
