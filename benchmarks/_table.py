"""The plain-text tables the benchmark scripts print."""

from __future__ import annotations

import sys


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    """Print a plain-text table with a title, columns padded to their widest cell."""
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    print(f"\n{title}\n" + line(header) + "\n" + "  ".join("-" * w for w in widths))
    for cells in rows:
        print(line(cells))
    sys.stdout.flush()
