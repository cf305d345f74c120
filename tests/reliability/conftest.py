"""Fault-matrix fixtures: tiny DVC-layout workspaces, a CLI runner that can SIGKILL itself at a
chosen point (`kill_at.py`), output snapshots, and the fault/stage/outcome summary table.

Each test records one row per fault it proved with `fault_log(fault, stage, outcome)`; faults
already covered by other stages' tests are listed in `COVERED_ELSEWHERE` and reported with the
outcome of those tests in this session. The table is printed at the end of the session.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PARAMS = REPO_ROOT / "params.yaml"
KILL_AT = Path(__file__).with_name("kill_at.py")

FAULT_ROWS = pytest.StashKey[list]()

# (test node id, fault, stage, what the test proves); reported with that test's outcome
COVERED_ELSEWHERE = [
    (
        "tests/sampling/test_sampling_cli.py::"
        "test_sigkill_mid_run_then_resume_matches_an_uninterrupted_run",
        "SIGKILL mid-generation (after the first shard)",
        "sample",
        "resume generates only the missing keys; table equals an uninterrupted run",
    ),
    (
        "tests/sampling/test_sampling_run.py::test_resume_redoes_only_lost_and_truncated_shards",
        "truncated parquet shard + lost shard",
        "sample",
        "truncated shard removed with a warning, its keys redone; table unchanged",
    ),
    (
        "tests/sampling/test_sampling_run.py::test_corrupt_image_is_recorded_and_counts_add_up",
        "corrupt image in the manifest",
        "sample",
        "recorded in rejected.parquet; generated + rejected == planned",
    ),
    (
        "tests/align/test_align_stage.py::test_resume_ends_with_same_weights_as_uninterrupted_run",
        "stop after epoch 1, then resume",
        "align",
        "resumed weights bit-identical to an uninterrupted run",
    ),
    (
        "tests/align/test_align_stage.py::test_undecodable_image_is_recorded_and_skipped",
        "corrupt image in the pairs",
        "align",
        "recorded in rejected.parquet, training goes on",
    ),
    (
        "tests/detector/test_detect.py::test_detect_paths_reports_bad_files_in_order",
        "corrupt image given to detect",
        "detect",
        "one error record per bad file, in input order",
    ),
]

# one thread everywhere: a killed run, its resume and the reference compute bit-identical floats
_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TQDM_DISABLE": "1",
    "HF_HUB_OFFLINE": "1",
    "PYTHONHASHSEED": "0",
}
# a hidden temp file or folder left by a killed atomic write (see realign_pipeline.atomic)
_ATOMIC_LEFTOVER = re.compile(r"^\..+\.(tmp|old-[^/]*)$")

TINY = [
    *("-s", "tracking.enabled=false"),
    *("-s", "ingest.num_workers=1"),
    *("-s", "evaluate.perturbations=[{kind: jpeg, value: 75}]"),
]


def _outcome_of(terminalreporter, nodeid: str) -> str | None:
    for status in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(status, []):
            if getattr(report, "nodeid", None) == nodeid and report.when in ("call", "setup"):
                if status == "passed" and report.when == "call":
                    return "passed"
                if status != "passed":
                    return status.upper()
    return None


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    rows = list(config.stash.get(FAULT_ROWS, []))
    if not rows and not any(
        "tests/reliability" in getattr(r, "nodeid", "")
        for reports in terminalreporter.stats.values()
        for r in reports
    ):
        return
    for nodeid, fault, stage, proves in COVERED_ELSEWHERE:
        status = _outcome_of(terminalreporter, nodeid)
        where = nodeid.split("::")[0]
        if status == "passed":
            rows.append((fault, stage, f"{proves} [{where}]"))
        elif status is None:
            rows.append((fault, stage, f"not run in this session (see {nodeid})"))
        else:
            rows.append((fault, stage, f"{status} ({nodeid})"))
    widths = [max(len(str(r[i])) for r in [("fault", "stage", "outcome"), *rows]) for i in (0, 1)]
    terminalreporter.write_sep("=", "fault matrix: fault, stage, outcome")
    header = ("fault", "stage", "outcome")
    for fault, stage, outcome in [header, *rows]:
        terminalreporter.write_line(f"{fault:<{widths[0]}}  {stage:<{widths[1]}}  {outcome}")


@pytest.fixture
def fault_log(request: pytest.FixtureRequest) -> Callable[[str, str, str], None]:
    """Record a (fault, stage, outcome) row for the end-of-session table."""

    def record(fault: str, stage: str, outcome: str) -> None:
        request.config.stash.setdefault(FAULT_ROWS, []).append((fault, stage, outcome))

    return record


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a CLI subprocess: one thread, offline, no tracking URI from outside."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "REALIGN_"))}
    return {**env, **_ENV, **extra}


def run_cli(
    workspace: Path,
    *args: str,
    kill: dict | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float = 300,
) -> subprocess.CompletedProcess:
    """Run `realign ARGS` in `workspace` (DVC layout, default paths), optionally killed at a point.

    `kill` is a `kill_at.py` spec; the subprocess then ends with -SIGKILL at that point.
    """
    spec = json.dumps(kill) if kill else ""
    command = [sys.executable, str(KILL_AT), spec, "--", *args]
    return subprocess.run(
        command,
        cwd=workspace,
        env=env or cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def stage_args(stage: str, *extra: str) -> list[str]:
    """Arguments of one stage on the tiny preset, with the command and paths of dvc.yaml."""
    import shlex

    import yaml

    cmd = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"][stage]["cmd"]
    return [*shlex.split(cmd)[1:], "--params", str(PARAMS), *TINY, *extra]


def snapshot(root: Path, outputs: Iterable[str]) -> dict[str, str]:
    """sha256 of every visible file under each output path (file or folder), by relative path."""
    digests: dict[str, str] = {}
    for rel in outputs:
        base = root / rel
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for path in files:
            name = path.relative_to(root).as_posix()
            if any(part.startswith(".") for part in Path(name).parts):
                continue
            digests[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def leftovers(root: Path) -> list[str]:
    """Hidden files/folders under artifacts/ and metrics/ (what a killed atomic write leaves)."""
    found = []
    for top in ("artifacts", "metrics"):
        for path in (root / top).rglob(".*") if (root / top).is_dir() else []:
            rel = path.relative_to(root)
            if not any(part.startswith(".") for part in rel.parts[:-1]):  # not inside a temp dir
                found.append(rel.as_posix())
    return sorted(found)


def assert_only_atomic_leftovers(root: Path, outputs: Iterable[str]) -> list[str]:
    """Leftovers must be atomic-write temp names, and none inside a stage's output folder.

    Returns the leftovers (reported in the summary); a stage never reads these names, and being
    outside the output folders they are not part of what DVC hashes or caches.
    """
    found = leftovers(root)
    bad = [p for p in found if not _ATOMIC_LEFTOVER.match(Path(p).name)]
    assert not bad, f"unexpected hidden files: {bad}"
    inside = [p for p in found for out in outputs if p.startswith(f"{out.rstrip('/')}/")]
    assert not inside, f"temp files inside output folders {inside}"
    return found


def assert_no_duplicate_rows(path: Path, key: list[str]) -> None:
    """A parquet table has at most one row per key."""
    frame = pd.read_parquet(path)
    assert not frame.duplicated(key).any(), f"duplicate {key} rows in {path}"


def write_pairs(workspace: Path) -> Path:
    """artifacts/pairs/pairs.parquet from the train manifest: two reviewed texts per image."""
    manifest = pd.read_parquet(workspace / "artifacts" / "manifests" / "train.parquet")
    rows = []
    for img in manifest.sort_values("image_id").itertuples(index=False):
        label = "fake" if img.label else "real"
        for k in range(2):
            think = f"Look {k}: the {label} texture of {img.generator} at {img.path}."
            rows.append(
                {
                    "sample_id": f"{img.image_id[:12]}-{k}",
                    "image_id": img.image_id,
                    "path": img.path,
                    "label": int(img.label),
                    "generator": img.generator,
                    "outcome": "accepted",
                    "text_full": f"This is a {label} image. {think}",
                    "text_reasoning_only": think,
                    "text_label_caption": None,
                    "text_caption_only": None,
                    "text_label_only": f"This is a {label} image.",
                }
            )
    out = workspace / "artifacts" / "pairs" / "pairs.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(out, index=False)
    return out


def align_steps_per_epoch(workspace: Path) -> int:
    """Optimizer steps per align epoch on this workspace (tiny preset batch size)."""
    from realign_pipeline.config import load_params

    n = len(pd.read_parquet(workspace / "artifacts" / "manifests" / "train.parquet"))
    return math.ceil(n / load_params(PARAMS).align.batch_size)


@pytest.fixture(scope="session")
def demo_data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small seeded demo data set (train + benchmark `demo`), built once per session."""
    from realign_pipeline.config import load_params
    from realign_pipeline.data import build_demo_data

    cfg = load_params(PARAMS).demo_data.model_copy(
        update={
            "train_real_per_generator": 3,
            "train_fake_per_generator": 3,
            "benchmark_real_per_generator": 2,
            "benchmark_fake_per_generator": 2,
        }
    )
    root = tmp_path_factory.mktemp("demo") / "data"
    build_demo_data(root, cfg, seed=0)
    return root


@pytest.fixture
def make_workspace(tmp_path: Path, demo_data_root: Path) -> Callable[[str], Path]:
    """`make_workspace(name)`: a fresh folder holding a copy of the demo data under data/."""

    def make(name: str) -> Path:
        workspace = tmp_path / name
        shutil.copytree(demo_data_root, workspace / "data")
        return workspace

    return make


@pytest.fixture(scope="session")
def ingested(tmp_path_factory: pytest.TempPathFactory, demo_data_root: Path) -> Path:
    """A workspace after a plain `realign ingest` (a template: copy it, never change it)."""
    workspace = tmp_path_factory.mktemp("ingested")
    shutil.copytree(demo_data_root, workspace / "data")
    done = run_cli(workspace, *stage_args("ingest"))
    assert done.returncode == 0, done.stderr
    return workspace


@pytest.fixture
def copy_workspace(tmp_path: Path) -> Callable[[Path, str], Path]:
    """`copy_workspace(template, name)`: a private copy of a template workspace."""

    def copy(template: Path, name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(template, target, symlinks=True)
        return target

    return copy
