"""How queries show themselves: a text table for ``repr``, HTML for notebooks, ``describe()``."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from labdata.core.errors import LabdataError

if TYPE_CHECKING:
    from labdata.catalog.tables.query import Query

__all__ = ["DISPLAY", "describe", "html_preview", "text_preview"]

PREVIEW_ROWS = 12
DISPLAY: dict[str, int | bool] = {"display.limit": PREVIEW_ROWS, "display.width": 24,
                                  "display.show_tuple_count": True}
"""Rows a preview shows, the widest cell of a text preview and whether previews count the rows
(``dj.config`` changes them)."""


def _cell(value: Any, width: int | None = None) -> str:
    width = width or int(DISPLAY["display.width"])
    if value is None:
        return "NULL"
    if hasattr(value, "shape") and getattr(value, "ndim", 0) > 0:
        return f"<{value.dtype} array {'x'.join(map(str, value.shape))}>"
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _rows(query: Query) -> tuple[list[dict[str, Any]], int | None]:
    """The rows a preview shows and how many the query has (None: more, not counted, as
    DataJoint with ``display.show_tuple_count`` off)."""
    limit = int(DISPLAY["display.limit"])
    rows = query.fetch(as_dict=True, limit=limit + 1)
    if len(rows) <= limit:
        return rows, len(rows)
    return rows[:limit], len(query) if DISPLAY["display.show_tuple_count"] else None


def _count_line(shown: int, count: int | None) -> str:
    if count is None:
        return f"{shown} row{'s' if shown != 1 else ''} shown, more not counted"
    more = f" (showing {shown})" if count > shown else ""
    return f"{count} row{'s' if count != 1 else ''}{more}"


def text_preview(query: Query) -> str:
    """A fixed-width table of the first rows, key attributes marked with ``*``."""
    try:
        rows, count = _rows(query)
    except LabdataError as error:  # a repr must never raise: show the problem instead
        return f"<query that cannot run: {str(error).splitlines()[0]}>"
    names = query.heading.names
    keys = set(query.primary_key)
    header = [("*" if n in keys else "") + n for n in names]
    body = [[_cell(row[n]) for n in names] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in body]
    return "\n".join([*lines, _count_line(len(rows), count)])


def html_preview(query: Query) -> str:
    """An HTML table of the first rows, for Jupyter."""
    try:
        rows, count = _rows(query)
    except LabdataError as error:
        return f"<pre>{html.escape(str(error))}</pre>"
    keys = set(query.primary_key)
    names = query.heading.names
    head = "".join(f"<th>{'<u>' if n in keys else ''}{html.escape(n)}{'</u>' if n in keys else ''}</th>"
                   for n in names)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(r[n], 40))}</td>" for n in names) + "</tr>"
                   for r in rows)
    return (f"<table class='labdata'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            f"<p>{_count_line(len(rows), count)}</p>")


def describe(query: Query) -> str:
    """The attributes, primary key first, as in a definition."""
    heading = query.heading
    lines = []
    for column in heading.columns:
        kind = column.type.text if column.type is not None else "computed"
        lines.append(f"{column.name} : {kind}")
        if column.in_key and column.name == heading.primary_key[-1]:
            lines.append("---")
    return "\n".join(lines)
