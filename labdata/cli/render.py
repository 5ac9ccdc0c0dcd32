"""Rendering results for the terminal, and writing them to CSV, JSON or Parquet files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from labdata.core.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FORMATS", "cell", "print_frame", "write_frame"]

FORMATS = ("table", "csv", "json", "parquet")


def cell(value: Any) -> str:
    """The text of one value in a table: ``NULL`` for SQL NULL (None, NaN, NaT, NA)."""
    import pandas as pd

    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return "NULL"
    return str(value)


def print_frame(frame: pd.DataFrame, *, title: str | None = None, max_rows: int = 50) -> None:
    """Print a DataFrame as a table (at most ``max_rows`` rows; NULL printed as ``NULL``)."""
    table = Table(title=title, show_lines=False)
    for name in frame.columns:
        table.add_column(str(name))
    for row in frame.head(max_rows).itertuples(index=False):
        table.add_row(*(cell(value) for value in row))
    console = Console()
    console.print(table)
    if len(frame) > max_rows:
        console.print(f"... {len(frame) - max_rows} more rows")


def output_format(output: str | None, fmt: str | None) -> str:
    """The format to write: ``fmt`` if given, else from the suffix of ``output``, else ``table``.

    Raises
    ------
    ConfigError
        For a suffix or format that is not csv, json or parquet, or parquet to the terminal.
    """
    if fmt is None and output is not None:
        fmt = Path(output).suffix.lstrip(".").lower()
        if fmt not in FORMATS[1:]:
            raise ConfigError(f"Cannot tell the format of {output!r} from its suffix.",
                              hint="Name the file .csv, .json or .parquet, or pass --format.")
    fmt = fmt or "table"
    if fmt == "parquet" and output is None:
        raise ConfigError("Parquet is not written to the terminal.", hint="Give a file: -o result.parquet.")
    return fmt


def write_frame(frame: pd.DataFrame, output: str | None, fmt: str) -> None:
    """Write ``frame`` as CSV (NULL as an empty field), JSON (records, NULL as null) or Parquet to ``output``
    (standard output when None, except Parquet)."""
    import pyarrow as pa

    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), output)
        return
    if fmt == "csv":
        text = frame.to_csv(index=False)
    else:
        text = frame.to_json(orient="records", date_format="iso", default_handler=str, lines=False) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        Path(output).write_text(text)
