"""Imports of the installed code: every third-party one is declared, and the package has no circle.

`pip install realign-pipeline` must give a package whose every stage runs, so each distribution
that src/, flows/ or tasks/ import (at module level or inside a function) is in pyproject's
`[project].dependencies`. Inside `realign_pipeline`, module-level imports form no cycle: each
module's public surface is what the others use, and a circle means two modules are one.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = {"realign_pipeline", "flows", "tasks"}


def _imports(tree: ast.AST, *, top_level_only: bool = False) -> set[str]:
    nodes = tree.body if top_level_only else ast.walk(tree)
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_third_party_import_is_a_declared_dependency():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = {
        _normalise(re.split(r"[\s<>=!~;\[]", req, maxsplit=1)[0])
        for req in pyproject["project"]["dependencies"]
    }
    providers = importlib.metadata.packages_distributions()
    undeclared: dict[str, list[str]] = {}
    for folder in ("src", "flows", "tasks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for module in _imports(ast.parse(path.read_text())):
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top in FIRST_PARTY:
                    continue
                dists = {_normalise(d) for d in providers.get(top, [top])}
                if not dists & declared:
                    undeclared.setdefault(top, []).append(str(path.relative_to(ROOT)))
    assert not undeclared, f"imported but not in pyproject's dependencies: {undeclared}"


def test_the_package_has_no_import_cycle():
    package = ROOT / "src" / "realign_pipeline"
    modules = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {
        name: {
            imported
            for imported in _imports(ast.parse(path.read_text()))
            if imported in modules and imported != name
        }
        for name, path in modules.items()
    }
    # A package importing its own submodules (re-exports) is not a circle between modules.
    graph = {n: {m for m in deps if not m.startswith(n + ".")} for n, deps in graph.items()}
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for dep in sorted(graph[name]):
            if state.get(dep) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*trail, name, dep]))
            if dep not in state:
                visit(dep, [*trail, name])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])


def test_no_module_imports_another_modules_private_name():
    private = []
    for folder in ("src", "flows", "tasks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.ImportFrom)
                    and node.level == 0
                    and (node.module or "").split(".")[0] in FIRST_PARTY
                ):
                    private += [
                        f"{path.relative_to(ROOT)}: {node.module}.{alias.name}"
                        for alias in node.names
                        if alias.name.startswith("_") and not alias.name.startswith("__")
                    ]
    assert not private, "use the module's public names (its __all__) instead: " + str(private)
