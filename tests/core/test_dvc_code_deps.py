"""dvc.yaml cannot go stale: every module a stage's command imports is one of its deps.

For each stage the test finds the Python function its `realign ...` command runs (through the
typer app), collects the `realign_pipeline` modules that function imports, and follows their
imports (module level and inside functions) transitively. Every module file must be a dep of
the stage, directly or through a folder. Left out on purpose: the CLI modules (argument parsing
only), the MLflow tracking helpers (logging, never an output's content), the package's
top-level `__init__.py` (its docstring and version), and the `config` package's `__init__`, which
imports every section's model: a stage depends on the section modules it imports itself (and on
its params through `params:`), not on the validation code of other stages' sections.
"""

from __future__ import annotations

import ast
import importlib.util
import shlex
from pathlib import Path

import pytest
import typer.main
import yaml

from realign_pipeline.cli import app

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "realign_pipeline"
NOT_OUTPUT_CODE = (f"{PACKAGE}.cli", f"{PACKAGE}.tracking")
NOT_FOLLOWED = {PACKAGE, f"{PACKAGE}.config"}  # package __init__s reached only as parents


def _stages() -> dict[str, dict]:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def _function_tree(cmd: str) -> tuple[ast.AST, str]:
    """The syntax tree of the Python function `realign <words> --options` runs, and its module."""
    words = shlex.split(cmd)
    assert words[0] == "realign", cmd
    command = typer.main.get_command(app)
    for word in words[1:]:
        if word.startswith("-") or not hasattr(command, "commands"):  # not a group
            break
        command = command.commands[word]
    function = command.callback
    while getattr(function, "__wrapped__", None) is not None:  # typer's wrapper -> our function
        function = function.__wrapped__
    code = function.__code__
    tree = ast.parse(Path(code.co_filename).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and code.co_firstlineno in (
            node.lineno,
            *(d.lineno for d in node.decorator_list),
        ):
            return node, function.__module__
    raise AssertionError(f"no function found for {cmd!r}")


def _imports(tree: ast.AST, module: str) -> set[str]:
    """Modules of the package imported anywhere in `tree` (absolute and relative imports)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.rsplit(".", node.level)[0]
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # submodules
    return {name for name in found if name.split(".")[0] == PACKAGE}


def _file(module: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:  # `module` is a name inside a module (`from a.b import name`)
        return None
    return Path(spec.origin) if spec is not None and spec.origin else None


def _with_parents(module: str) -> list[str]:
    """`a.b.c` -> `a.b`, `a.b.c` (importing a module runs its packages' __init__ first)."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(2, len(parts))]


def imported_files(cmd: str) -> set[Path]:
    """Files of every package module the command's function reaches through imports."""
    start = _imports(*_function_tree(cmd))
    todo, seen = list(start), set()
    while todo:
        module = todo.pop()
        if module in seen or module.startswith(NOT_OUTPUT_CODE) or module in NOT_FOLLOWED:
            continue
        seen.add(module)
        path = _file(module)
        if path is None or path.suffix != ".py":
            continue  # `from package import name` where name is not a module
        todo.extend(_with_parents(module))
        todo.extend(_imports(ast.parse(path.read_text(encoding="utf-8")), module))
    return {p for m in seen if (p := _file(m)) is not None and p.suffix == ".py"}


def _covered(path: Path, deps: list[str]) -> bool:
    rel = path.resolve().relative_to(REPO)
    return any(rel == Path(dep) or Path(dep) in rel.parents for dep in deps)


@pytest.mark.parametrize("stage", sorted(_stages()))
def test_every_imported_module_is_a_dep(stage: str) -> None:
    spec = _stages()[stage]
    files = imported_files(spec["cmd"])
    assert files, f"{stage}: found no package module behind {spec['cmd']!r}"
    missing = sorted(
        str(p.resolve().relative_to(REPO)) for p in files if not _covered(p, spec["deps"])
    )
    assert not missing, f"dvc.yaml stage {stage} misses code deps: {missing}"


def test_the_walk_sees_function_level_imports() -> None:
    """The align command imports its stage inside the function; the walk must find it."""
    files = {p.name for p in imported_files("realign align --out x")}
    assert {"stage.py", "train.py", "losses.py"} <= files


def test_typed_stage_names_are_dvc_yaml_stages() -> None:
    """The typed names (params, run forms) are dvc.yaml's stages, in dvc.yaml's order."""
    from realign_pipeline.config.pipeline import STAGES

    assert list(STAGES) == list(_stages())
