"""TRL's colocated vLLM path against the pinned vLLM (requirements-gpu.lock), read from the wheel.

TRL 1.16 declares vLLM 0.22-0.31; the GPU lock pins vLLM 0.33.0, because vLLM 0.31 needs another
torch than the one both locks share (docs/grpo.md). So this test reads what TRL's colocate mode
calls (trl/generation/vllm_generation.py, by AST: the `LLM(...)` keywords, the `SamplingParams`
and `StructuredOutputsParams` fields, the methods called on the engine, the attributes read from
its outputs) and checks each exists in vLLM 0.33.0's own source, taken from the wheel (no GPU, no
import): an `LLM.__init__` keyword is a parameter or an `EngineArgs` field (where its **kwargs
go), a method's keywords are its parameters and its positional arguments fit. Needs the package
index (uv downloads the wheel once into its cache); skipped only when it cannot be reached.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENGINE_METHODS = ("generate", "sleep", "wake_up", "reset_prefix_cache")


def _pinned_vllm() -> str:
    for line in (ROOT / "requirements-gpu.lock").read_text(encoding="utf-8").splitlines():
        if line.startswith("vllm=="):
            return line.split("==", 1)[1].split(";")[0].strip()
    raise AssertionError("requirements-gpu.lock pins no vllm")


def _classes(source: str) -> dict[str, ast.ClassDef]:
    return {n.name: n for n in ast.parse(source).body if isinstance(n, ast.ClassDef)}


def _fields(cls: ast.ClassDef) -> set[str]:
    """Annotated class fields, plus `self.x = ...` assigned in `__init__`."""
    names = {s.target.id for s in cls.body if isinstance(s, ast.AnnAssign)}
    for method in (m for m in cls.body if isinstance(m, ast.FunctionDef)):
        if method.name == "__init__":
            for node in ast.walk(method):
                if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                    names.add(node.attr)
    return names


def _params(cls: ast.ClassDef, method: str) -> tuple[list[str], bool]:
    """(parameter names without self, accepts **kwargs) of `cls.method`."""
    (fn,) = [m for m in cls.body if isinstance(m, ast.FunctionDef) and m.name == method]
    args = fn.args
    names = [a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]][1:]
    return names, args.kwarg is not None


def _trl_colocate_calls() -> dict:
    import trl

    path = Path(trl.__file__).parent / "generation" / "vllm_generation.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls: dict = {"imports": set(), "LLM": set(), "SamplingParams": set()}
    calls["StructuredOutputsParams"] = set()
    calls["methods"] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vllm"):
            if node.module in ("vllm", "vllm.sampling_params"):  # the colocate path's imports
                calls["imports"].update((node.module, a.name) for a in node.names)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in ("LLM", "StructuredOutputsParams"):
                calls[node.func.id].update(k.arg for k in node.keywords if k.arg)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if ast.unparse(owner) == "self.llm" and node.func.attr in ENGINE_METHODS:
                keywords = {k.arg for k in node.keywords}
                calls["methods"].setdefault(node.func.attr, []).append((len(node.args), keywords))
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            if any(getattr(t, "id", None) == "generation_kwargs" for t in node.targets):
                calls["SamplingParams"].update(k.value for k in node.value.keys if k is not None)
    calls["SamplingParams"].add("structured_outputs")  # set on generation_kwargs further down
    assert calls["LLM"] and calls["SamplingParams"] and calls["methods"], "TRL's code moved"
    return calls


@pytest.fixture(scope="module")
def vllm_wheel(uv, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pinned vLLM wheel's files, unpacked by uv (no dependencies, nothing imported)."""
    dest = tmp_path_factory.mktemp("vllm")
    done = uv(
        "pip", "install", "--quiet", "--no-deps", "--only-binary", ":all:", "--target", str(dest),
        "--python-version", "3.11", "--python-platform", "x86_64-manylinux_2_28",
        f"vllm=={_pinned_vllm()}", timeout=1200,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return dest


@pytest.mark.slow
def test_every_vllm_call_of_trls_colocate_path_exists_in_the_pinned_vllm(vllm_wheel) -> None:
    def read(module: str) -> str:
        return (vllm_wheel / module).read_text(encoding="utf-8")

    def classes(module: str) -> dict[str, ast.ClassDef]:
        return _classes(read(module))

    calls = _trl_colocate_calls()
    llm = classes("vllm/entrypoints/llm.py")["LLM"]
    sampling = classes("vllm/sampling_params.py")
    engine_args = _fields(classes("vllm/engine/arg_utils.py")["EngineArgs"])
    outputs = classes("vllm/outputs.py")
    for module, name in calls["imports"]:
        where = read("vllm/__init__.py" if module == "vllm" else "vllm/sampling_params.py")
        assert name in where, f"from {module} import {name}: not in vLLM {_pinned_vllm()}"

    init_params, _ = _params(llm, "__init__")
    unknown = calls["LLM"] - set(init_params) - engine_args
    assert not unknown, (
        f"LLM(...) keywords vLLM accepts neither itself nor in EngineArgs: {unknown}"
    )
    assert calls["SamplingParams"] <= _fields(sampling["SamplingParams"])
    assert calls["StructuredOutputsParams"] <= _fields(sampling["StructuredOutputsParams"])
    for method, uses in calls["methods"].items():
        params, _ = _params(llm, method)
        for positional, keywords in uses:
            assert positional <= len(params) and keywords <= set(params), (method, params, uses)
    assert "llm_engine" in _fields(llm)  # weights are loaded through llm.llm_engine.model_executor
    # what TRL reads from the results (extract_logprobs, generate)
    assert {"outputs", "prompt_token_ids"} <= _fields(outputs["RequestOutput"])
    assert {"token_ids", "logprobs"} <= _fields(outputs["CompletionOutput"])
