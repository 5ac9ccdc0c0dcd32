"""Rendering results for the terminal."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["print_frame"]


def print_frame(frame: pd.DataFrame, *, title: str | None = None, max_rows: int = 50) -> None:
    """Print a DataFrame as a table (at most ``max_rows`` rows)."""
    table = Table(title=title, show_lines=False)
    for name in frame.columns:
        table.add_column(str(name))
    for row in frame.head(max_rows).itertuples(index=False):
        table.add_row(*("" if value is None else str(value) for value in row))
    console = Console()
    console.print(table)
    if len(frame) > max_rows:
        console.print(f"... {len(frame) - max_rows} more rows")
