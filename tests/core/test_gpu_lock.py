"""requirements-gpu.lock: the pins shared with uv.lock, and uv's resolver accepts it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GPU_LOCK = ROOT / "requirements-gpu.lock"
OVERRIDES = ROOT / "requirements-gpu.overrides"
# The code paths under test: these must be the very versions tested on CPU.
MUST_MATCH = {
    "torch", "torchvision", "transformers", "trl", "peft", "accelerate", "datasets",
    "open-clip-torch", "safetensors", "tokenizers", "numpy", "pandas", "pyarrow", "pydantic",
    "mlflow", "dvc", "pillow", "scikit-learn",
}  # fmt: skip


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _overrides() -> tuple[set[str], set[str]]:
    """The packages requirements-gpu.overrides frees from uv.lock's versions, and those it drops."""
    text = OVERRIDES.read_text(encoding="utf-8")
    free = {_norm(n) for line in re.findall(r"^# free: (.*)$", text, re.M) for n in line.split()}
    dropped = {_norm(n) for n in re.findall(r"^([\w.-]+) ; sys_platform == 'never'$", text, re.M)}
    return free, dropped


def cpu_pins() -> dict[str, str]:
    """name -> version of every package uv.lock pins (the project itself left out)."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    return {_norm(p["name"]): p["version"] for p in lock["package"] if "registry" in p["source"]}


def read_lock(path: Path) -> dict[str, str]:
    """name -> version of every `name==version` line (comments and blanks skipped)."""
    pins: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep, f"{path.name}: not an exact pin: {line!r}"
            pins[_norm(name)] = version.split(";")[0].strip()
    return pins


def test_gpu_lock_pins_the_cpu_lock_versions() -> None:
    gpu, cpu = read_lock(GPU_LOCK), cpu_pins()
    free, dropped = _overrides()
    assert {"vllm", "deepspeed"} <= gpu.keys()
    assert not MUST_MATCH & (free | dropped)
    differ = {n: (cpu[n], gpu[n]) for n in cpu.keys() & gpu.keys() if cpu[n] != gpu[n]}
    assert set(differ) <= free, f"undocumented differences: {differ}"
    assert not dropped & gpu.keys()
    assert MUST_MATCH <= gpu.keys() & cpu.keys()


def test_gpu_lock_lists_every_dependency_of_the_project() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = {_norm(dep.split("==")[0].split("[")[0]) for dep in project["dependencies"]}
    assert names - _overrides()[1] <= read_lock(GPU_LOCK).keys()


@pytest.mark.slow
def test_uv_resolves_the_gpu_lock(uv, tmp_path: Path) -> None:
    """uv's resolver accepts the whole lock for the GPU image's platform (no GPU needed), and
    the lock is closed: nothing new. Needs the package index; skipped only when unreachable."""
    result = uv(
        "pip", "compile", str(GPU_LOCK), "--python-version", "3.11",
        "--python-platform", "x86_64-manylinux_2_28", "--no-header", "--no-annotate", "--quiet",
        "--output-file", str(tmp_path / "resolved.txt"), timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert read_lock(tmp_path / "resolved.txt") == read_lock(GPU_LOCK)


def test_uv_lock_is_locked_from_this_pyproject() -> None:
    """A pin changed in pyproject.toml without `bash scripts/lock.sh` fails here, not silently
    (scripts/env.sh installs uv.lock as it is: `uv sync --frozen`)."""
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    wanted = {(_norm(r.name), str(r.specifier)) for r in map(Requirement, requirements)}
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    (own,) = [p for p in lock["package"] if p["source"].get("editable") == "."]
    locked = {(_norm(d["name"]), d.get("specifier", "")) for d in own["metadata"]["requires-dist"]}
    assert wanted == locked, f"uv.lock is stale, run `bash scripts/lock.sh`: {wanted ^ locked}"
