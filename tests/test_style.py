"""The code passes its linters: ruff (rules in pyproject.toml) over the package, the tests, the benchmarks and tools/,
and mypy over the package (strict on the query core), so that ``python -m pytest`` runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, check=False)


def test_ruff_is_clean() -> None:
    result = _run("ruff", "check", "--no-fix", "labdata", "tests", "benchmarks", "tools")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean() -> None:
    # the incremental cache (.mypy_cache, gitignored) makes reruns take a second or two
    result = _run("mypy", "labdata")
    assert result.returncode == 0, result.stdout + result.stderr
