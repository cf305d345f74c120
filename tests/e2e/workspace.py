"""A fresh copy of the repository to run the pipeline in, and dvc.lock comparisons."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]


def copy_repo(dest: Path) -> None:
    """The files a fresh clone would have (plus not-yet-committed, not-ignored ones)."""
    files = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for rel in filter(None, files):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def sh(ws: Path, *cmd: str, env: dict | None = None, timeout: int = 600) -> str:
    proc = subprocess.run(cmd, cwd=ws, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n"
            f"{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
        )
    return proc.stdout + proc.stderr


def fresh_git_repo(ws: Path, env: dict) -> None:
    """`git init` and one commit of everything in `ws`, like a fresh clone."""
    for cmd in (
        ["git", "init", "-q"],
        ["git", "config", "user.email", "ci@example.invalid"],
        ["git", "config", "user.name", "ci"],
        ["git", "add", "-A"],
        ["git", "commit", "-qm", "fresh clone"],
    ):
        sh(ws, *cmd, env=env)


def _metrics_paths() -> set[str]:
    """The metrics files of dvc.yaml (uncached outputs holding timings)."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    return {
        next(iter(entry)) if isinstance(entry, dict) else entry
        for stage in stages.values()
        for entry in stage.get("metrics", [])
    }


def lock_without_metrics(lock: dict[str, Any]) -> dict[str, Any]:
    """dvc.lock's stages with the metrics files left out of each stage's outs."""
    metrics = _metrics_paths()
    return {
        name: {**entry, "outs": [o for o in entry.get("outs", []) if o["path"] not in metrics]}
        for name, entry in (lock or {}).get("stages", {}).items()
    }
