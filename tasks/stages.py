"""One Prefect task per DVC stage.

Each task opens the stage's nested MLflow run under the flow's parent run, runs the DVC stage in a
subprocess that logs into that run (`REALIGN_RUN_ID`), forwards the stage's output to Prefect's
run logger as one record per event at its level (`tasks.stage_log`), publishes the stage's JSON
result and its metrics as artifacts, and keeps a progress artifact (done/total, rate, ETA) up to
date for long stages. Only transient failures (DVC lock contention, an unreachable server)
are retried, with backoff.
"""

from __future__ import annotations

import json
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

from realign_pipeline.config import load_params
from realign_pipeline.config.pipeline import STAGES, PipelineConfig
from realign_pipeline.tracking import (
    ENV_FLOW_RUN_ID,
    ENV_RUN_ID,
    create_run,
    end_run,
    git_commit,
    run_url,
    tracker_for,
)
from realign_pipeline.tracking.registry import tag_run_versions
from tasks.dvc_runner import (
    DvcRun,
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
    """The stage's JSON result as a markdown artifact (one log record points at it)."""
    key = f"summary-{stage.replace('_', '-')}"
    create_markdown_artifact(
        key=key,
        markdown=f"```json\n{json.dumps(summary, indent=2, sort_keys=True)}\n```",
        description=f"{stage}: the stage's result (outputs, counts, metrics)",
    )
    get_run_logger().info("%s: result published as artifact %s", stage, key)


@task(
    name="dvc-stage",
    task_run_name="{stage}",
    retries=2,
    retry_delay_seconds=[5, 30],
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

    `up_to_date`: the caller already knows from `dvc status` that the stage is unchanged, so the
    `dvc repro` call is left out; the stage is reported as skipped with its recorded metrics.
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; known: {', '.join(STAGES)}")
    logger = get_run_logger()
    root = Path(repo)
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
    env = {ENV_FLOW_RUN_ID: _flow_run_id()}
    if run_id:
        env[ENV_RUN_ID] = run_id
    known_skip = up_to_date and not force
    on_progress = None
    if stage in PROGRESS_STAGES and not known_skip:
        artifact_id = create_progress_artifact(
            progress=0.0,
            key=f"progress-{stage.replace('_', '-')}",
            description=f"{stage}: starting",
        )
        started = time.monotonic()

        def on_progress(done: int, total: int) -> None:
            if total > 0:
                update_progress_artifact(
                    artifact_id,
                    progress=100.0 * done / total,
                    description=progress_text(stage, done, total, time.monotonic() - started),
                )

    try:
        if known_skip:
            result = DvcRun(stage=stage, ran=False, duration_s=0.0)
        else:
            output = StageLog(logger.log, lambda summary: _publish_summary(stage, summary))
            try:
                result = run_dvc_stage(
                    root, stage, force=force, env=env, on_line=output.feed, on_progress=on_progress
                )
            finally:
                output.close()
    except StageFailedError:
        end_run(params.tracking, run_id, "FAILED")
        raise
    stage_hash = stage_lock_hash(root, stage)
    metrics = stage_metrics(root, stage)
    tracker = tracker_for(params.tracking, run_id)
    status = result.status
    tracker.set_tags({"dvc.stage_hash": stage_hash, "realign.status": status})
    tag_run_versions(tracker, {"dvc.stage_hash": stage_hash})  # lineage of a registered detector
    if not result.ran:
        tracker.log_metrics(metrics)  # a skipped stage still shows its (unchanged) numbers
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


STAGE_TASKS = {stage: run_stage.with_options(name=stage) for stage in STAGES}
"""One named task per stage (same body), so the Prefect UI shows `ingest`, `grpo`, ..."""


def stage_task(stage: str, pipeline: PipelineConfig):  # noqa: ANN201 - a configured Prefect Task
    """The stage's task with the run's retry policy (pipeline.retries, retry_delay_s), used the
    same way by the local flow and by a dispatched stage."""
    return STAGE_TASKS[stage].with_options(
        retries=pipeline.retries, retry_delay_seconds=pipeline.retry_delay_s
    )
