"""One Prefect task per DVC stage.

Each task opens the stage's nested MLflow run under the flow's parent run, runs the DVC stage in a
subprocess that logs into that run (`REALIGN_RUN_ID`), forwards the stage's output to Prefect's
run logger as one record per event at its level (`tasks.stage_log`), publishes the stage's JSON
result and its metrics as artifacts, and keeps a progress artifact (done/total, rate, ETA) up to
date for long stages. Only transient failures (DVC lock contention, an unreachable server)
are retried, as `pipeline.retries` says (`stage_task`). A stage that DVC's status already found
up to date costs no process and no MLflow run. A failed stage fails its task at ERROR level with
the stage command's own error and no traceback of ours.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.context import get_run_context

from realign_pipeline import stage_env
from realign_pipeline.config import load_params
from realign_pipeline.config.pipeline import STAGES, PipelineConfig
from realign_pipeline.errors import RealignError
from realign_pipeline.tracking import create_run, end_run, git_commit, run_url, tracker_for
from realign_pipeline.tracking.registry import tag_run_versions
from tasks.dvc_runner import (
    StageFailedError,
    TransientStageError,
    run_dvc_stage,
    stage_lock_hash,
    stage_metrics,
)
from tasks.report import progress_text
from tasks.stage_log import StageLog

PROGRESS_STAGES = {"grpo", "sample", "caption", "align", "evaluate"}


@dataclass
class StageOutcome:
    """What the flow records per stage (also the row of the stages table artifact)."""

    stage: str
    status: str  # ran | resumed | restored (from DVC's run cache) | skipped
    duration_s: float
    mlflow_run_id: str
    mlflow: str
    dvc_stage_hash: str
    metrics: dict[str, float]

    def to_row(self) -> dict:
        """The stage's row: the table artifact's columns plus its metrics."""
        row = asdict(self)
        row["duration_s"] = f"{self.duration_s:.1f}"
        return row


def _is_transient(task, task_run, state) -> bool:  # noqa: ANN001 - Prefect's hook signature
    try:
        state.result()
    except TransientStageError:
        return True
    except BaseException:  # noqa: BLE001 - anything else is permanent: do not retry
        return False
    return False


def _flow_run_id() -> str:
    try:
        ctx = get_run_context()
    except RuntimeError:
        return ""
    flow_run = getattr(ctx, "flow_run", None)
    if flow_run is None and getattr(ctx, "task_run", None) is not None:
        return str(ctx.task_run.flow_run_id or "")
    return str(flow_run.id) if flow_run else ""


def _publish_summary(stage: str, summary: dict) -> None:
    """The stage's result (its result file) as a markdown artifact."""
    create_markdown_artifact(
        key=f"summary-{stage.replace('_', '-')}",
        markdown=f"```json\n{json.dumps(summary, indent=2, sort_keys=True)}\n```",
        description=f"{stage}: the stage's result (outputs, counts, metrics)",
    )


class _Progress:
    """The stage's progress artifact (done/total, rate, ETA); it ends at done/total."""

    def __init__(self, stage: str) -> None:
        self.stage = stage
        self.started = time.monotonic()
        self.done = self.total = 0
        self.artifact_id = create_progress_artifact(
            progress=0.0,
            key=f"progress-{stage.replace('_', '-')}",
            description=f"{stage}: starting",
        )

    def update(self, done: int, total: int) -> None:
        if total > 0:
            self.done, self.total = done, total
            update_progress_artifact(
                self.artifact_id,
                progress=100.0 * done / total,
                description=progress_text(self.stage, done, total, time.monotonic() - self.started),
            )

    def finish(self, status: str) -> None:
        """The stage ended well: 100%, done/total when the stage reported counts."""
        total = self.total or self.done
        if total:
            self.update(total, total)
        else:
            update_progress_artifact(
                self.artifact_id, progress=100.0, description=f"{self.stage}: {status}"
            )


def skipped_outcome(root: Path, stage: str) -> StageOutcome:
    """An up-to-date stage: no process, no MLflow run; its recorded hash and metrics."""
    return StageOutcome(
        stage=stage,
        status="skipped",
        duration_s=0.0,
        mlflow_run_id="",
        mlflow="",
        dvc_stage_hash=stage_lock_hash(root, stage),
        metrics=stage_metrics(root, stage),
    )


@task(
    name="dvc-stage",
    task_run_name="{stage}",
    retry_condition_fn=_is_transient,
    log_prints=True,
)
def run_stage(
    stage: str,
    repo: str,
    parent_run_id: str | None = None,
    force: bool = False,
    up_to_date: bool = False,
) -> StageOutcome:
    """Run one DVC stage (skipped by DVC when nothing changed) and publish its result.

    `up_to_date`: the caller already knows from DVC's status that the stage is unchanged, so
    it is reported as skipped with its recorded metrics: no `dvc repro`, no MLflow run.
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; known: {', '.join(STAGES)}")
    root = Path(repo)
    if up_to_date and not force:
        return skipped_outcome(root, stage)
    logger = get_run_logger()
    params = load_params(root / "params.yaml")
    run_id = create_run(
        params.tracking,
        stage,
        {
            "realign.stage": stage,
            "realign.preset": params.preset,
            "prefect.flow_run_id": _flow_run_id(),
            "mlflow.source.git.commit": git_commit(root),
        },
        parent_run_id=parent_run_id,
    )
    env = {stage_env.FLOW_RUN_ID: _flow_run_id()}
    if run_id:
        env[stage_env.RUN_ID] = run_id
    progress = _Progress(stage) if stage in PROGRESS_STAGES else None
    output = StageLog(logger.log)
    try:
        result = run_dvc_stage(
            root,
            stage,
            force=force,
            env=env,
            on_line=output.feed,
            on_progress=progress.update if progress else None,
        )
    except StageFailedError:
        end_run(params.tracking, run_id, "FAILED")
        raise
    finally:
        output.close()
    if progress is not None:
        progress.finish(result.status)
    if result.result is not None:
        _publish_summary(stage, result.result)
    stage_hash = stage_lock_hash(root, stage)
    metrics = stage_metrics(root, stage)
    tracker = tracker_for(params.tracking, run_id)
    status = result.status
    tracker.set_tags({"dvc.stage_hash": stage_hash, "realign.status": status})
    tag_run_versions(tracker, {"dvc.stage_hash": stage_hash})  # lineage of a registered detector
    if not result.ran:
        tracker.log_metrics(metrics)  # restored from the run cache: its (unchanged) numbers
    end_run(params.tracking, run_id)
    if metrics:
        create_table_artifact(
            key=f"metrics-{stage.replace('_', '-')}",
            table=[{"metric": k, "value": round(v, 6)} for k, v in metrics.items()],
            description=f"{stage}: metrics ({status})",
        )
    logger.info("stage %s %s in %.1fs", stage, status, result.duration_s)
    return StageOutcome(
        stage=stage,
        status=status,
        duration_s=result.duration_s,
        mlflow_run_id=run_id or "",
        mlflow=run_url(params.tracking, run_id),
        dvc_stage_hash=stage_hash,
        metrics=metrics,
    )


class _ExpectedFailure(logging.Filter):
    """Prefect logs a failed task or flow run with a traceback. For an expected failure (a
    stage's command failed, a parameter or config that cannot work: a RealignError) the
    traceback is ours and says nothing; the record keeps the error's own message only."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, RealignError):
            record.msg, record.args = str(exc), ()
            record.exc_info, record.exc_text = None, None
        return True


for _name in ("prefect.task_runs", "prefect.flow_runs"):
    logging.getLogger(_name).addFilter(_ExpectedFailure())


STAGE_TASKS = {stage: run_stage.with_options(name=stage) for stage in STAGES}
"""One named task per stage (same body), so the Prefect UI shows `ingest`, `grpo`, ..."""


def stage_task(stage: str, pipeline: PipelineConfig):  # noqa: ANN201 - a configured Prefect Task
    """The stage's task with the run's retry policy (pipeline.retries, retry_delay_s), used the
    same way by the local flow and by a dispatched stage."""
    return STAGE_TASKS[stage].with_options(
        retries=pipeline.retries, retry_delay_seconds=pipeline.retry_delay_s
    )
