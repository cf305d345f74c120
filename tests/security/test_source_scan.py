"""The library, flows and tasks hold no unsafe deserialisation or code evaluation.

An AST scan (so comments and docstrings that mention pickle do not count) of src/, flows/ and
tasks/ for: importing pickle-family modules, `torch.load` without `weights_only=True`,
`torch.save` (pickle on disk), pandas `read_pickle`, numpy `allow_pickle=True`, builtin
`eval`/`exec`/`compile`, PyYAML `load`/`full_load`/`unsafe_load` without a safe loader, MLflow
flavours that pickle (`mlflow.pytorch`, `mlflow.sklearn`, a `python_model` object instead of a
file), and `trust_remote_code=True`. Each finding names file:line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("src", "flows", "tasks")
PICKLE_MODULES = {
    "pickle",
    "cPickle",
    "_pickle",
    "dill",
    "cloudpickle",
    "joblib",
    "shelve",
    "marshal",
}
SAFE_YAML_LOADERS = {"SafeLoader", "CSafeLoader"}
PICKLING_MLFLOW_FLAVOURS = {"pytorch", "sklearn", "keras", "tensorflow", "transformers"}


def _dotted(node: ast.AST) -> str:
    """`a.b.c` of a Name/Attribute chain ("" for anything else)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _ruamel_safe(tree: ast.Module) -> bool:
    """The module's `yaml` is ruamel's `YAML()` (round-trip/safe types), never typ="unsafe"."""
    imports_ruamel = any(
        isinstance(n, ast.ImportFrom) and n.module == "ruamel.yaml" for n in ast.walk(tree)
    )
    unsafe = any(
        isinstance(n, ast.Call)
        and _dotted(n.func).endswith("YAML")
        and isinstance(_keyword(n, "typ"), ast.Constant)
        and _keyword(n, "typ").value in ("unsafe", "base")
        for n in ast.walk(tree)
    )
    return imports_ruamel and not unsafe


def _check_call(call: ast.Call, ruamel_safe: bool) -> str | None:
    name = _dotted(call.func)
    last = name.rsplit(".", 1)[-1]
    if name == "torch.load" and not _is_true(_keyword(call, "weights_only")):
        return "torch.load without weights_only=True"
    if name == "torch.save":
        return "torch.save writes pickle; use safetensors"
    if last == "read_pickle" or last == "to_pickle":
        return f"{name}: pickle"
    if _is_true(_keyword(call, "allow_pickle")):
        return f"{name}(allow_pickle=True)"
    if name in ("eval", "exec", "compile", "__import__"):
        return f"builtin {name}()"
    if _is_true(_keyword(call, "trust_remote_code")):
        return f"{name}(trust_remote_code=True)"
    if name in ("yaml.unsafe_load", "yaml.full_load", "yaml.unsafe_load_all"):
        return name
    if name in ("yaml.load", "yaml.load_all") and not ruamel_safe:
        loader = _keyword(call, "Loader") or (call.args[1] if len(call.args) > 1 else None)
        loader_name = _dotted(loader).rsplit(".", 1)[-1] if loader is not None else ""
        if loader_name not in SAFE_YAML_LOADERS:
            return f"{name} without SafeLoader (use yaml.safe_load)"
    if name.endswith("pyfunc.log_model") or name.endswith("pyfunc.save_model"):
        model = _keyword(call, "python_model")
        if model is not None and not (isinstance(model, ast.Call) and _dotted(model.func) == "str"):
            if not isinstance(model, ast.Constant):
                return f"{name} with a python_model object (pickled); log it from code"
    return None


def _findings(path: Path, root: Path = REPO_ROOT) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    ruamel_safe = _ruamel_safe(tree)
    rel = path.relative_to(root).as_posix()
    found = []
    for node in ast.walk(tree):
        problem = None
        if isinstance(node, ast.Import):
            hit = [a.name for a in node.names if a.name.split(".")[0] in PICKLE_MODULES]
            problem = f"imports {hit}" if hit else None
        elif isinstance(node, ast.ImportFrom) and node.module:
            root = node.module.split(".")[0]
            if root in PICKLE_MODULES:
                problem = f"imports from {node.module}"
            elif (
                node.module == "mlflow" and {a.name for a in node.names} & PICKLING_MLFLOW_FLAVOURS
            ):
                problem = "imports a pickling MLflow flavour"
        elif isinstance(node, ast.Attribute) and _dotted(node).startswith("mlflow."):
            parts = _dotted(node).split(".")
            if len(parts) > 1 and parts[1] in PICKLING_MLFLOW_FLAVOURS:
                problem = f"uses {'.'.join(parts[:2])} (pickles the model)"
        elif isinstance(node, ast.Call):
            problem = _check_call(node, ruamel_safe)
        if problem:
            found.append(f"{rel}:{node.lineno}: {problem}")
    return found


def _sources() -> list[Path]:
    files = []
    for top in SCANNED:
        files += sorted((REPO_ROOT / top).rglob("*.py"))
    return files


def test_library_flows_and_tasks_hold_no_unsafe_loading_or_eval() -> None:
    sources = _sources()
    assert len(sources) > 50  # the scan really sees the code
    findings = [f for path in sources for f in _findings(path)]
    assert not findings, "unsafe constructs:\n" + "\n".join(findings)


@pytest.mark.parametrize(
    "snippet",
    [
        "import pickle",
        "from cloudpickle import dumps",
        "import torch\ntorch.load('x.pt')",
        "import torch\ntorch.load('x.pt', weights_only=False)",
        "import torch\ntorch.save({}, 'x.pt')",
        "import pandas as pd\npd.read_pickle('x')",
        "import numpy as np\nnp.load('x.npy', allow_pickle=True)",
        "eval('1 + 1')",
        "exec('x = 1')",
        "import yaml\nyaml.load(open('p.yaml'))",
        "import yaml\nyaml.load(open('p.yaml'), Loader=yaml.Loader)",
        "import yaml\nyaml.unsafe_load('a: 1')",
        "AutoModel.from_pretrained('m', trust_remote_code=True)",
        "import mlflow\nmlflow.pytorch.log_model(m, 'model')",
        "import mlflow\nmlflow.pyfunc.log_model(name='m', python_model=Wrapper())",
    ],
)
def test_scan_catches_each_construct(tmp_path: Path, snippet: str) -> None:
    # the guard against a scan that passes because it matches nothing
    path = tmp_path / "src" / "bad.py"
    path.parent.mkdir()
    path.write_text(snippet + "\n", encoding="utf-8")
    found = _findings(path, tmp_path)
    assert found and found[0].startswith("src/bad.py:"), (snippet, found)


@pytest.mark.parametrize(
    "snippet",
    [
        "import torch\ntorch.load('x.pt', weights_only=True)",
        "import yaml\nyaml.safe_load('a: 1')",
        "import yaml\nyaml.load('a: 1', Loader=yaml.SafeLoader)",
        "from ruamel.yaml import YAML\nyaml = YAML()\nyaml.load('a: 1')",
        "model.eval()",
        "import mlflow\nmlflow.pyfunc.log_model(name='m', python_model=str(path))",
        "# pickle is refused\n'''no pickle here'''",
    ],
)
def test_scan_allows_the_safe_forms(tmp_path: Path, snippet: str) -> None:
    path = tmp_path / "src" / "ok.py"
    path.parent.mkdir()
    path.write_text(snippet + "\n", encoding="utf-8")
    assert _findings(path, tmp_path) == []
