"""Run one DVC stage in a subprocess and describe what happened (no Prefect here).

`dvc repro --single-item <stage>` runs exactly one stage (the flow orders them; DVC's repo lock
forbids parallel repro). The stage's MLflow run id and the flow-run id reach the `realign`
subprocess through environment variables (see realign_pipeline.tracking); progress reported by the
stage through `REALIGN_PROGRESS_FILE` is polled while it runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from realign_pipeline.headline import flatten
from tasks.dvc_repro import EXIT_TRANSIENT

__all__ = [
    "FORCE_ENV",
    "PROGRESS_ENV",
    "RESULT_ENV",
    "DvcRun",
    "StageFailedError",
    "TransientStageError",
    "dvc_stage_names",
    "out_of_date",
    "run_dvc_stage",
    "stage_deps",
    "stage_lock_hash",
    "stage_metrics",
    "stage_outputs",
    "stage_spec",
]

PROGRESS_ENV = "REALIGN_PROGRESS_FILE"
RESULT_ENV = "REALIGN_RESULT_FILE"  # the `realign` command writes its StageResult JSON there
FORCE_ENV = "REALIGN_FORCE"  # set: the command discards resumable state (flow `force`)
_ROOT = Path(__file__).resolve().parents[1]


class StageFailedError(RuntimeError):
    """The stage's command failed; the message holds the tail of its output."""


class TransientStageError(StageFailedError):
    """A failure that a retry may fix (lock contention, an unreachable server)."""


@dataclass
class DvcRun:
    """What one `dvc repro` of a stage did."""

    stage: str
    ran: bool  # the stage's command ran
    duration_s: float
    output_tail: list[str] = field(default_factory=list)
    restored: bool = False  # outputs checked out from DVC's run cache instead of running
    resumed: bool = False  # the command ran and continued from resumable state it found

    @property
    def status(self) -> str:
        """ran | resumed | restored (from DVC's run cache) | skipped (up to date)."""
        if self.ran:
            return "resumed" if self.resumed else "ran"
        return "restored" if self.restored else "skipped"


def dvc_stage_names(repo: Path) -> list[str]:
    """The stages of `repo`'s dvc.yaml in file order (DAG order: the one list of stages)."""
    return list(yaml.safe_load((repo / "dvc.yaml").read_text())["stages"])


def stage_spec(repo: Path, stage: str) -> dict:
    """The stage's entry in dvc.yaml (KeyError names the known stages)."""
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    if stage not in stages:
        raise KeyError(f"stage {stage!r} not in dvc.yaml; known: {', '.join(stages)}")
    return stages[stage]


def _paths(entries: list) -> list[str]:
    out = []
    for entry in entries or []:
        out.extend(entry.keys() if isinstance(entry, dict) else [entry])
    return out


def stage_metrics(repo: Path, stage: str) -> dict[str, float]:
    """The stage's headline metrics: its `metrics:` files flattened as DVC does (missing files
    are skipped), under the names MLflow gets too."""
    flat: dict[str, float] = {}
    for rel in _paths(stage_spec(repo, stage).get("metrics", [])):
        path = repo / rel
        if path.is_file():
            flat.update(flatten(json.loads(path.read_text())))
    return flat


def stage_outputs(repo: Path, stage: str) -> list[str]:
    """The stage's `outs:` paths from dvc.yaml."""
    return _paths(stage_spec(repo, stage).get("outs", []))


def stage_deps(repo: Path, stage: str) -> list[str]:
    """The stage's `deps:` paths from dvc.yaml."""
    return _paths(stage_spec(repo, stage).get("deps", []))


def stage_lock_hash(repo: Path, stage: str) -> str:
    """A short hash of the stage's dvc.lock entry (its cmd, deps, params and outs hashes)."""
    lock = repo / "dvc.lock"
    if not lock.is_file():
        return ""
    entry = (yaml.safe_load(lock.read_text()) or {}).get("stages", {}).get(stage)
    if entry is None:
        return ""
    return hashlib.sha256(json.dumps(entry, sort_keys=True).encode()).hexdigest()[:16]


def out_of_date(repo: Path) -> set[str] | None:
    """Names of the stages (and `.dvc` files) that `dvc status` finds out of date in `repo`.

    One DVC process answers for the whole pipeline, where a `dvc repro --single-item` per stage
    would start one each. None when the status cannot be read (the caller then asks `dvc repro`
    stage by stage, which is always right).
    """
    proc = subprocess.run(
        ["dvc", "status", "--json"], cwd=repo, capture_output=True, text=True, check=False
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return None
    try:
        status = json.loads(lines[-1])
    except ValueError:
        return None
    return set(status) if isinstance(status, dict) else None


def _poll_progress(path: Path, stop: threading.Event, on_progress: Callable) -> None:
    last = None
    while not stop.wait(2.0):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if data != last:
            last = data
            on_progress(int(data.get("done", 0)), int(data.get("total", 0)))


def run_dvc_stage(
    repo: Path,
    stage: str,
    *,
    force: bool = False,
    env: dict[str, str] | None = None,
    on_line: Callable[[str], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> DvcRun:
    """Run `dvc repro --single-item STAGE` in `repo` (through `tasks.dvc_repro`): ran, resumed,
    restored from the run cache, or skipped. What happened comes from exit codes, the
    reproduced flag and the result file the `realign` command writes when it runs (`force` also
    asks it to discard resumable state: REALIGN_FORCE).

    Raises:
        TransientStageError: a failure worth retrying (DVC lock held, server unreachable).
        StageFailedError: any other non-zero exit, with the tail of the output.
    """
    progress_file = repo / ".dvc" / "tmp" / f"progress-{stage}-{os.getpid()}.json"
    progress_file.parent.mkdir(parents=True, exist_ok=True)
    progress_file.unlink(missing_ok=True)
    result_file = progress_file.with_name(f"result-{stage}-{os.getpid()}.json")
    result_file.unlink(missing_ok=True)
    script = str(_ROOT / "tasks" / "dvc_repro.py")  # a script: it imports nothing of ours
    cmd = [sys.executable, script, stage] + (["--force"] if force else [])
    full_env = {
        **os.environ,
        **(env or {}),
        PROGRESS_ENV: str(progress_file),
        RESULT_ENV: str(result_file),
    }
    if force:
        full_env[FORCE_ENV] = "1"
    start = time.monotonic()
    stop = threading.Event()
    poller = None
    if on_progress is not None:
        poller = threading.Thread(
            target=_poll_progress, args=(progress_file, stop, on_progress), daemon=True
        )
        poller.start()
    tail: list[str] = []
    with subprocess.Popen(
        cmd,
        cwd=repo,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            tail = (tail + [line])[-60:]
            if on_line is not None and line.strip():
                on_line(line)
        returncode = proc.wait()
    stop.set()
    if poller is not None:
        poller.join(timeout=5)
    progress_file.unlink(missing_ok=True)
    duration = time.monotonic() - start
    text = "\n".join(tail)
    if returncode != 0:
        message = f"stage {stage!r} failed (exit {returncode}):\n{text}"
        if returncode == EXIT_TRANSIENT:
            raise TransientStageError(message)
        raise StageFailedError(message)
    reported = [line for line in tail if line.startswith('{"reproduced"')]
    reproduced = bool(json.loads(reported[-1])["reproduced"]) if reported else False
    result = _read_result(result_file)
    ran = result is not None
    return DvcRun(
        stage=stage,
        ran=ran,
        duration_s=duration,
        output_tail=tail,
        restored=reproduced and not ran,
        resumed=ran and bool(result.get("extra", {}).get("resumed")),
    )


def _read_result(path: Path) -> dict | None:
    """The StageResult the command wrote (None: the command did not run), then remove it."""
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    finally:
        path.unlink(missing_ok=True)
    return result if isinstance(result, dict) else None
