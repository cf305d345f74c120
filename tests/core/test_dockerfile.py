"""deploy/Dockerfile, read (no Docker engine here): a CUDA base matching the locks' torch build,
the GPU lock installed, every COPY source present and not excluded by .dockerignore."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "deploy" / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def _pins(lock: str) -> dict[str, str]:
    pins = {}
    for line in (REPO_ROOT / lock).read_text(encoding="utf-8").splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pins[name.strip().lower().replace("_", "-")] = version.split(";")[0].strip()
    return pins


def _ignore_patterns() -> list[str]:
    lines = (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


def _is_dockerignored(rel: str, patterns: list[str]) -> bool:
    """Docker's rule: a path is excluded if it, or a folder above it, matches; last match wins."""
    parts = Path(rel).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate, pat = pattern.startswith("!"), pattern.lstrip("!").strip("/")
        regex = fnmatch.translate(pat).replace(".*", "[^/]*").replace("[^/]*[^/]*", ".*")
        bare = pat.replace("**/", "")
        if any(re.fullmatch(regex, c) or fnmatch.fnmatch(c, bare) for c in candidates):
            ignored = not negate
    return ignored


def test_base_image_cuda_matches_the_torch_build_of_the_locks() -> None:
    torch = pytest.importorskip("torch")
    (base,) = [args for op, args in _instructions() if op == "FROM"]
    match = re.fullmatch(r"nvidia/cuda:(\d+)\.(\d+)\.\d+-\S+", base.split()[0])
    assert match, f"base image {base!r} is not an nvidia/cuda image"
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text(encoding="utf-8"))
    cpu = {p["name"]: p["version"] for p in lock["package"]}
    gpu = _pins("requirements-gpu.lock")
    assert cpu["torch"] == gpu["torch"]  # the same torch build on CPU and GPU machines
    # the installed torch is the lock's: its CUDA version is the one the build was made for
    assert torch.__version__.split("+")[0] == gpu["torch"]
    assert torch.version.cuda == f"{match[1]}.{match[2]}", (torch.version.cuda, base)
    runtime = gpu["nvidia-cuda-runtime"].split(".")[:2]
    assert runtime == [match[1], match[2]]  # the CUDA runtime wheel torch pulls in


def test_image_installs_the_gpu_lock_with_what_the_paper_preset_runs() -> None:
    runs = " ".join(args for op, args in _instructions() if op == "RUN")
    assert "uv pip sync --no-cache /tmp/requirements-gpu.lock" in runs
    assert "uv pip install --no-cache --no-deps -e ." in runs
    gpu = _pins("requirements-gpu.lock")
    for package in ("deepspeed", "vllm", "prefect-kubernetes", "dvc-s3", "dvc-gs", "dvc-ssh"):
        assert package in gpu, f"{package} missing from requirements-gpu.lock"


def test_every_copy_source_exists_and_is_not_dockerignored() -> None:
    patterns = _ignore_patterns()
    copies = [args.split() for op, args in _instructions() if op == "COPY"]
    assert copies
    for *sources, _dest in copies:
        for source in (s for s in sources if not s.startswith("--")):
            if source == ".":
                continue
            assert (REPO_ROOT / source).exists(), f"COPY {source}: no such file in the repo"
            assert not _is_dockerignored(source, patterns), f"COPY {source} is dockerignored"


@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        ("data/train/0_real/a.png", True),
        ("artifacts/aigi_r1/model.safetensors", True),
        (".dvc/cache/files/md5/ab/cdef", True),
        ("mlflow.db", True),
        (".venv", True),
        ("src/realign_pipeline/__pycache__/cli.cpython-311.pyc", True),
        # what the pods need: code, the DAG, params, locks, and git history (exact commits)
        ("src/realign_pipeline/cli/__init__.py", False),
        ("dvc.yaml", False),
        ("params.yaml", False),
        ("data.dvc", False),
        (".dvc/config", False),
        (".git/HEAD", False),
        ("requirements-gpu.lock", False),
    ],
)
def test_dockerignore_keeps_data_caches_and_state_out(path: str, ignored: bool) -> None:
    assert _is_dockerignored(path, _ignore_patterns()) is ignored
