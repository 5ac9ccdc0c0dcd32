"""The package layers (SPEC §2) hold: import-linter's contracts in pyproject.toml pass."""

from __future__ import annotations

import ast
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


def _imports(path: Path, package: str) -> set[str]:
    """Every module ``path`` imports at run time (function-local imports included; ``if TYPE_CHECKING``
    blocks, which never run, left out), resolved to module names."""
    tree = ast.parse(path.read_text())
    type_only = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
                 and ast.unparse(block.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
                 for statement in block.body for node in ast.walk(statement)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module if not node.level else ".".join([*package.split(".")[: 1 - node.level], node.module])
            found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return found


def test_no_import_cycle_among_catalog_modules() -> None:
    modules = {}
    for path in (ROOT / "labdata" / "catalog").rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = path
    graph = {name: {m for m in _imports(path, name) if m in modules and m != name}
             for name, path in modules.items() if not name.endswith("catalog")}
    cycles = [component for component in _strongly_connected(graph) if len(component) > 1]
    assert not cycles, f"import cycles among catalog modules: {cycles}"


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of ``graph``."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            components.append(component)

    for node in graph:
        if node not in index:
            visit(node)
    return components
