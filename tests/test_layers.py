"""The package layers (SPEC §2) hold: import-linter's contracts in pyproject.toml pass."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_hold() -> None:
    command = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    result = subprocess.run([command, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "labdata layers KEPT" in result.stdout


def test_importing_labdata_is_light_and_reads_nothing(tmp_path: Path) -> None:
    code = ("import sys, labdata; heavy = ('duckdb', 'pandas', 'pyarrow', 'zarr', 'sqlglot'); "
            "print(sorted(m for m in heavy if m in sys.modules)); import labdata.schema; "
            "print(sorted(m for m in ('pandas', 'zarr') if m in sys.modules))")
    env = {"HOME": str(tmp_path), "LABDATA_PATH": str(tmp_path / "labdata"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["[]", "[]"], "import labdata (and the schema) stays light"
    assert not any(tmp_path.iterdir()), "importing created files"
