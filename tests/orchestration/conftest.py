"""A toy workspace (git + DVC) whose dvc.yaml has fast stand-in stages, for flow mechanics.

The stand-in stages are real DVC stages running real commands; they only skip the heavy ML so the
flow's behaviour (ordering, skip detection, MLflow nesting, artifacts, the review pause, locking,
failures) is tested in seconds. The real stages run end to end in tests/e2e.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

STAGE_SCRIPT = textwrap.dedent(
    """
    import json, os, sys, pathlib
    stage, fail = sys.argv[1], sys.argv[2] == "fail"
    out = pathlib.Path("artifacts") / stage
    out.mkdir(parents=True, exist_ok=True)
    (out / "run_id.txt").write_text(os.environ.get("REALIGN_RUN_ID", ""))
    pathlib.Path("metrics").mkdir(exist_ok=True)
    pathlib.Path(f"metrics/{stage}.json").write_text(json.dumps({"value": len(stage)}))
    # resumable state like sample's shards: a test plants it; a forced run discards it
    state = pathlib.Path(".state") / stage
    if os.environ.get("REALIGN_FORCE") == "1":
        state.unlink(missing_ok=True)
    print(f"stand-in {stage} ran")
    progress = os.environ.get("REALIGN_PROGRESS_FILE")  # the last update a throttled hook wrote
    if progress:
        pathlib.Path(progress).write_text(json.dumps({"done": 1, "total": 4}))
    # a test makes a stage fail with `.fail/<stage>` holding the exit code (75: transient, once)
    planted = pathlib.Path(".fail") / stage
    code = 3 if fail else int(planted.read_text()) if planted.exists() else 0
    if code == 75:
        planted.unlink()
    if code:
        print(f"error: stand-in {stage} failed on purpose (exit {code})", file=sys.stderr)
        sys.exit(code)
    result = os.environ.get("REALIGN_RESULT_FILE")  # what `realign`'s finish() writes
    if result:
        extra = {"resumed": state.exists()}
        pathlib.Path(result).write_text(json.dumps({"stage": stage, "extra": extra}))
    """
)


def _stage(name: str, deps: list[str], fail: bool = False) -> dict:
    return {
        "cmd": f"{sys.executable} stage.py {name} {'fail' if fail else 'ok'}",
        "deps": ["stage.py", *deps],
        "params": ["seed"],
        "outs": [f"artifacts/{name}"],
        "metrics": [{f"metrics/{name}.json": {"cache": False}}],
    }


def make_toy_workspace(root: Path, *, failing: str | None = None) -> Path:
    """A git + DVC repo with flows/, tasks/, params and stand-in stages for a few stage names."""
    root.mkdir(parents=True, exist_ok=True)
    for folder in ("flows", "tasks", "presets", "deploy"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["tracking"]["uri"] = f"sqlite:///{root / 'mlflow.db'}"
    params["tracking"]["artifact_root"] = str(root / "mlartifacts")
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (root / "stage.py").write_text(STAGE_SCRIPT)
    stages = {
        "ingest": _stage("ingest", [], failing == "ingest"),
        "review_export": _stage("review_export", ["artifacts/ingest"], failing == "review_export"),
        "review_import": _stage("review_import", ["artifacts/review_export"]),
        "align": _stage("align", ["artifacts/review_import"], failing == "align"),
    }
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))
    run = lambda *cmd: subprocess.run(cmd, cwd=root, check=True, capture_output=True)  # noqa: E731
    run("git", "init", "-q")
    run("git", "config", "user.email", "ci@example.invalid")
    run("git", "config", "user.name", "ci")
    run("dvc", "init", "-q")
    run("dvc", "config", "core.analytics", "false")
    run("git", "add", "-A")
    run("git", "commit", "-qm", "toy workspace")
    return root


@pytest.fixture
def toy_workspace(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return make_toy_workspace(tmp_path / "ws")


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
