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
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from realign_pipeline import stage_env
from realign_pipeline.errors import RealignError
from realign_pipeline.headline import flatten
from tasks.stage_log import strip_ansi

__all__ = [
    "DvcRun",
    "StageFailedError",
    "TransientStageError",
    "dvc_stage_names",
    "failure_reason",
    "out_of_date",
    "run_dvc_stage",
    "stage_deps",
    "stage_lock_hash",
    "stage_metrics",
    "stage_outputs",
    "stage_spec",
]

_ROOT = Path(__file__).resolve().parents[1]
_REPRODUCED = '{"reproduced"'  # tasks/dvc_repro.py's last line: for this module, not the log


class StageFailedError(RealignError):
    """The stage's command failed; the message is its own error (the last lines that say why)."""


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
    result: dict | None = None  # what the command wrote to its result file (None: it did not run)

    @property
    def status(self) -> str:
        """ran | resumed | restored (from DVC's run cache) | skipped (up to date)."""
        if self.ran:
            return "resumed" if self.resumed else "ran"
        return "restored" if self.restored else "skipped"


def _load_yaml(path: Path) -> Any:
    """dvc.yaml or dvc.lock, parsed by libyaml when PyYAML has it (10x faster: a skipped stage
    reads both)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(path.read_text())
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def dvc_stage_names(repo: Path) -> list[str]:
    """The stages of `repo`'s dvc.yaml in file order (DAG order: the one list of stages)."""
    return list(_load_yaml(repo / "dvc.yaml")["stages"])


def stage_spec(repo: Path, stage: str) -> dict:
    """The stage's entry in dvc.yaml (KeyError names the known stages)."""
    stages = _load_yaml(repo / "dvc.yaml")["stages"]
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
    entry = (_load_yaml(lock) or {}).get("stages", {}).get(stage)
    if entry is None:
        return ""
    return hashlib.sha256(json.dumps(entry, sort_keys=True).encode()).hexdigest()[:16]


def out_of_date(repo: Path) -> set[str] | None:
    """Names of the stages (and `.dvc` files) that DVC's status finds out of date in `repo`.

    Asked in this process (no `dvc` process started), once for the whole pipeline. None when
    the status cannot be read (the caller then asks `dvc repro` stage by stage, which is always
    right).
    """
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo(str(repo)) as dvc:
            status = dvc.status()
    except DvcException:
        return None
    # keys are addresses relative to the working directory: `<path>/dvc.yaml:<stage>`, `x.dvc`
    return {key.rsplit(":", 1)[-1] if ":" in key else Path(key).name for key in status}


def _read_progress(path: Path) -> tuple[int, int] | None:
    try:
        data = json.loads(path.read_text())
        return int(data.get("done", 0)), int(data.get("total", 0))
    except (OSError, ValueError, AttributeError):
        return None


def _poll_progress(path: Path, stop: threading.Event, on_progress: Callable) -> None:
    last = None
    while not stop.wait(2.0):
        progress = _read_progress(path)
        if progress is not None and progress != last:
            last = progress
            on_progress(*progress)


_ERROR_LINE = re.compile(
    r"^(ERROR|error)\b|^\d\d:\d\d:\d\d (ERROR|CRITICAL) |^[\w.]*(Error|Exception)\b.*: "
)


def failure_reason(lines: list[str], limit: int = 4) -> str:
    """The lines of a failed stage's output that say why: its error lines (the command's own,
    DVC's with its cause), else its last lines; traceback frames and progress bars left out."""
    meaningful = [
        line
        for line in lines
        if line.strip() and not line[:1].isspace() and not line.startswith("Traceback")
    ]
    errors = [line for line in meaningful if _ERROR_LINE.match(line)]
    picked = list(dict.fromkeys(errors or meaningful))
    return "\n".join(picked[-limit:])


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
    asks it to discard resumable state: REALIGN_FORCE). A stage that ends well reports its last
    progress (done/total) before this returns.

    Raises:
        TransientStageError: a failure worth retrying (DVC lock held, server unreachable).
        StageFailedError: any other non-zero exit, with the lines of the output that say why.
    """
    progress_file = repo / ".dvc" / "tmp" / f"progress-{stage}-{os.getpid()}.json"
    progress_file.parent.mkdir(parents=True, exist_ok=True)
    progress_file.unlink(missing_ok=True)
    result_file = progress_file.with_name(f"result-{stage}-{os.getpid()}.json")
    result_file.unlink(missing_ok=True)
    script = str(_ROOT / "tasks" / "dvc_repro.py")
    cmd = [sys.executable, script, stage] + (["--force"] if force else [])
    full_env = {
        **os.environ,
        **(env or {}),
        stage_env.PROGRESS_FILE: str(progress_file),
        stage_env.RESULT_FILE: str(result_file),
        "NO_COLOR": "1",  # plain text for the logs (Prefect shows escape codes verbatim)
    }
    full_env.pop("FORCE_COLOR", None)
    if force:
        full_env[stage_env.FORCE] = "1"
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
            line = strip_ansi(line.rstrip("\n"))
            tail = (tail + [line])[-60:]
            if on_line is not None and line.strip() and not line.startswith(_REPRODUCED):
                on_line(line)
        returncode = proc.wait()
    stop.set()
    if poller is not None:
        poller.join(timeout=5)
    final = _read_progress(progress_file)
    progress_file.unlink(missing_ok=True)
    duration = time.monotonic() - start
    if returncode != 0:
        _read_result(result_file)  # a half-done command's result is not the stage's
        message = f"stage {stage!r} failed (exit {returncode}): {failure_reason(tail)}"
        if returncode == stage_env.EXIT_TRANSIENT:
            raise TransientStageError(message)
        raise StageFailedError(message)
    if on_progress is not None and final is not None:
        on_progress(final[1] or final[0], final[1] or final[0])  # it ended: done = total
    reported = [line for line in tail if line.startswith(_REPRODUCED)]
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
        result=result,
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
