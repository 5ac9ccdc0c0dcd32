"""The plain-text tables the benchmark scripts print."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    """Print a plain-text table with a title, columns padded to their widest cell."""
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    print(f"\n{title}\n" + line(header) + "\n" + "  ".join("-" * w for w in widths))
    for cells in rows:
        print(line(cells))
    sys.stdout.flush()


def machine(extra: str = "") -> str:
    """CPUs, load and the labdata commit, which move every timing (ratios are measured under the same load)."""
    one, five, _ = os.getloadavg()
    git = ["git", "-C", str(Path(__file__).parent)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    dirty = subprocess.run([*git, "status", "--porcelain", "--", "../labdata"], capture_output=True, text=True,
                           check=False)
    commit = head.stdout.strip() + (" + uncommitted changes to labdata/" if dirty.stdout.strip() else "")
    return (f"machine: {os.cpu_count()} CPUs, load average {one:.1f} (1 min) / {five:.1f} (5 min) at the end; "
            f"{extra}labdata at {commit or 'unknown commit'}")
