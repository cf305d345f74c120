"""The library, flows and tasks hold no unsafe deserialisation or code evaluation.

ruff's bandit rules (`S` in pyproject.toml, run by scripts/test.sh) refuse pickle, marshal and
shelve, eval/exec and unsafe PyYAML loads. This AST scan of src/, flows/ and tasks/ adds what
ruff lacks: importing cloudpickle or joblib, `torch.load` without `weights_only=True`,
`torch.save` (pickle on disk), numpy `allow_pickle=True`, PyYAML `unsafe_load`/`full_load`,
`trust_remote_code=True`, and MLflow flavours that pickle (`mlflow.pytorch`, `mlflow.sklearn`,
a `python_model` object instead of a file). Each finding names file:line.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PICKLE_MODULES = {"cloudpickle", "joblib"}
PICKLING_MLFLOW_FLAVOURS = {"pytorch", "sklearn", "keras", "tensorflow", "transformers"}


def _dotted(node: ast.AST) -> str:
    """`a.b.c` of a Name/Attribute chain ("" for anything else)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return ".".join([node.id, *reversed(parts)]) if isinstance(node, ast.Name) else ""


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _check_call(call: ast.Call) -> str | None:
    name = _dotted(call.func)
    if name == "torch.load" and not _is_true(_keyword(call, "weights_only")):
        return "torch.load without weights_only=True"
    if name == "torch.save":
        return "torch.save writes pickle; use safetensors"
    if _is_true(_keyword(call, "allow_pickle")):
        return f"{name}(allow_pickle=True)"
    if _is_true(_keyword(call, "trust_remote_code")):
        return f"{name}(trust_remote_code=True)"
    if name in ("yaml.unsafe_load", "yaml.full_load", "yaml.unsafe_load_all"):
        return name
    model = _keyword(call, "python_model")
    if name.endswith(("pyfunc.log_model", "pyfunc.save_model")) and model is not None:
        if not isinstance(model, ast.Constant) and not (
            isinstance(model, ast.Call) and _dotted(model.func) == "str"
        ):
            return f"{name} with a python_model object (pickled); log it from code"
    return None


def _problem(node: ast.AST) -> str | None:
    if isinstance(node, ast.Import | ast.ImportFrom):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
        hit = [n for n in names if n and n.split(".")[0] in PICKLE_MODULES]
        if hit:
            return f"imports {hit}"
        if isinstance(node, ast.ImportFrom) and node.module == "mlflow":
            if {a.name for a in node.names} & PICKLING_MLFLOW_FLAVOURS:
                return "imports a pickling MLflow flavour"
    elif isinstance(node, ast.Attribute) and _dotted(node).startswith("mlflow."):
        if _dotted(node).split(".")[1] in PICKLING_MLFLOW_FLAVOURS:
            return f"uses {'.'.join(_dotted(node).split('.')[:2])} (pickles the model)"
    elif isinstance(node, ast.Call):
        return _check_call(node)
    return None


def _findings(path: Path, root: Path = REPO_ROOT) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    rel = path.relative_to(root).as_posix()
    return [f"{rel}:{n.lineno}: {p}" for n in ast.walk(tree) if (p := _problem(n))]


def test_library_flows_and_tasks_hold_no_unsafe_loading() -> None:
    sources = [p for top in ("src", "flows", "tasks") for p in (REPO_ROOT / top).rglob("*.py")]
    assert len(sources) > 50  # the scan really sees the code
    findings = [f for path in sorted(sources) for f in _findings(path)]
    assert not findings, "unsafe constructs:\n" + "\n".join(findings)


@pytest.mark.parametrize(
    "snippet",
    [
        "from cloudpickle import dumps",
        "import joblib",
        "import torch\ntorch.load('x.pt')",
        "import torch\ntorch.load('x.pt', weights_only=False)",
        "import torch\ntorch.save({}, 'x.pt')",
        "import numpy as np\nnp.load('x.npy', allow_pickle=True)",
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


@pytest.mark.parametrize(
    ("snippet", "rule"),
    [
        ("import pickle\n", "S403"),
        ("import pandas as pd\npd.read_pickle('x')\n", "S301"),
        ("eval('1 + 1')\n", "S307"),
        ("exec('x = 1')\n", "S102"),
        ("import yaml\nyaml.load(open('p.yaml'), Loader=yaml.Loader)\n", "S506"),
    ],
)
def test_ruff_config_refuses_what_the_scan_leaves_to_it(
    tmp_path: Path, snippet: str, rule: str
) -> None:
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (the test extra has it)")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "bad.py").write_text(snippet, encoding="utf-8")
    out = subprocess.run(
        [ruff, "check", "--config", str(REPO_ROOT / "pyproject.toml"), "--output-format",
         "json", "--no-cache", "src/bad.py"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 1, out.stderr
    assert rule in {finding["code"] for finding in json.loads(out.stdout)}
