"""The library, flows and tasks hold no unsafe deserialisation or code evaluation.

ruff refuses most of it (pyproject.toml, run by scripts/test.sh): its bandit rules (`S`) pickle,
marshal, shelve, eval/exec and unsafe `yaml.load`, and its banned APIs (`TID251`) cloudpickle,
joblib, `torch.save`, `yaml.unsafe_load`/`full_load` and the MLflow flavours that pickle. This AST
scan adds the keyword arguments no ruff rule reads: `torch.load` without `weights_only=True`,
`allow_pickle=True`, `trust_remote_code=True`, and a pyfunc `python_model` object (pickled)
instead of a file. Each finding names file:line.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def _dotted(node: ast.AST) -> str:
    """`a.b.c` of a Name/Attribute chain ("" for anything else)."""
    return ast.unparse(node) if isinstance(node, ast.Name | ast.Attribute) else ""


def _problem(call: ast.Call) -> str | None:
    name = _dotted(call.func)
    keywords = {k.arg: k.value for k in call.keywords}
    flags = {k for k, v in keywords.items() if isinstance(v, ast.Constant) and v.value is True}
    if name == "torch.load" and "weights_only" not in flags:
        return "torch.load without weights_only=True"
    if flags & {"allow_pickle", "trust_remote_code"}:
        return f"{name}({', '.join(sorted(flags & {'allow_pickle', 'trust_remote_code'}))}=True)"
    model = keywords.get("python_model")
    if name.endswith(("pyfunc.log_model", "pyfunc.save_model")) and model is not None:
        if not isinstance(model, ast.Constant) and not (
            isinstance(model, ast.Call) and _dotted(model.func) == "str"
        ):
            return f"{name} with a python_model object (pickled); log it from code"
    return None


def _findings(path: Path, root: Path = REPO_ROOT) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    rel = path.relative_to(root).as_posix()
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    return [f"{rel}:{n.lineno}: {p}" for n in calls if (p := _problem(n))]


def test_library_flows_and_tasks_hold_no_unsafe_loading() -> None:
    sources = [p for top in ("src", "flows", "tasks") for p in (REPO_ROOT / top).rglob("*.py")]
    assert len(sources) > 50  # the scan really sees the code
    findings = [f for path in sorted(sources) for f in _findings(path)]
    assert not findings, "unsafe constructs:\n" + "\n".join(findings)


@pytest.mark.parametrize(
    ("snippet", "found"),
    [
        ("torch.load('x.pt')", True),
        ("torch.load('x.pt', weights_only=False)", True),
        ("np.load('x.npy', allow_pickle=True)", True),
        ("AutoModel.from_pretrained('m', trust_remote_code=True)", True),
        ("mlflow.pyfunc.log_model(name='m', python_model=Wrapper())", True),
        ("torch.load('x.pt', weights_only=True)", False),
        ("model.eval()", False),
        ("mlflow.pyfunc.log_model(name='m', python_model=str(path))", False),
        ("# pickle is refused\n'''no pickle here'''", False),
    ],
)
def test_scan_catches_each_construct_and_allows_the_safe_forms(
    tmp_path: Path, snippet: str, found: bool
) -> None:
    # the guard against a scan that passes because it matches nothing (or everything)
    path = tmp_path / "src" / "bad.py"
    path.parent.mkdir()
    path.write_text(snippet + "\n", encoding="utf-8")
    findings = _findings(path, tmp_path)
    assert bool(findings) is found and all(f.startswith("src/bad.py:1:") for f in findings)


@pytest.mark.parametrize(
    ("snippet", "rule"),
    [
        ("import pickle\n", "S403"),
        ("import pandas as pd\n\npd.read_pickle('x')\n", "S301"),
        ("eval('1 + 1')\n", "S307"),
        ("exec('x = 1')\n", "S102"),
        ("import yaml\n\nyaml.load(open('p.yaml'), Loader=yaml.Loader)\n", "S506"),
        ("from cloudpickle import dumps\n", "TID251"),
        ("import joblib\n", "TID251"),
        ("import torch\n\ntorch.save({}, 'x.pt')\n", "TID251"),
        ("import yaml\n\nyaml.unsafe_load('a: 1')\n", "TID251"),
        ("import yaml\n\nyaml.full_load('a: 1')\n", "TID251"),
        ("import mlflow\n\nmlflow.pytorch.log_model(None, 'model')\n", "TID251"),
        ("from mlflow import sklearn\n", "TID251"),
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
