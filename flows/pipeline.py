"""The `realign-pipeline` flow: every ReAlign stage, in DAG order, as DVC stages.

Each stage is a Prefect task that runs `dvc repro --single-item <stage>` (so unchanged stages are
skipped and every output is versioned); stages that one `dvc status` up front finds unchanged are
reported as skipped without starting DVC, until something in the run changes the workspace. A
stage listed in `pipeline.stage_deployments` runs on its own work pool through `run_deployment`
(the `realign-stage` flow), exchanging data through the DVC remote. In human review mode the flow
waits after `review_export` for the experts' export: a form in the Prefect UI (path of the
export, or "use the auto policy"); deployments suspend (releasing their infrastructure), local
runs pause.

Run locally (ephemeral Prefect API, no server needed):
    python -m flows.pipeline
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Literal

from prefect import flow, get_run_logger, pause_flow_run, suspend_flow_run
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.context import get_run_context
from prefect.deployments import run_deployment
from prefect.exceptions import Pause
from prefect.input import RunInput
from pydantic import BaseModel, Field

from flows.workspace import apply_preset, set_param, workspace_lock
from realign_pipeline.cli.common import exit_process
from realign_pipeline.config import Params, load_params
from realign_pipeline.config.pipeline import StageName
from realign_pipeline.tracking import create_run, end_run, git_commit, tracker_for
from tasks.dvc_runner import dvc_stage_names, out_of_date, stage_outputs
from tasks.stages import STAGE_TASKS, StageOutcome

EVAL_REPORT = "report.md"  # in the evaluate stage's output folder (dvc.yaml)


class PipelineRun(BaseModel):
    """What a user picks in the Prefect UI when starting a run."""

    preset: Literal["tiny", "paper"] = Field(
        "tiny", description="Params preset made active (presets/<preset>.yaml -> params.yaml)."
    )
    stages: list[StageName] = Field(
        default_factory=list, description="Stages to run (empty: every stage of dvc.yaml)."
    )
    review_mode: Literal["params", "auto", "human"] = Field(
        "params", description="Expert review: as in params, auto (no humans), or human (wait)."
    )
    force: bool = Field(False, description="Rerun stages even when DVC finds nothing changed.")


class ReviewDecision(RunInput):
    """The form shown in the Prefect UI while the flow waits for the experts."""

    export_path: str = Field(
        "",
        description="Experts' export (Label Studio JSON / JSON-MIN, CSV or JSONL), a path "
        "on the flow's machine; copied to review.export_path under data/ and versioned by DVC.",
    )
    use_auto_policy: bool = Field(
        False, description="Skip the experts: accept the pre-filtered queue (review.mode=auto)."
    )


def _flow_run() -> tuple[str, str | None]:
    ctx = get_run_context()
    run = ctx.flow_run
    return str(run.id), (str(run.deployment_id) if run.deployment_id else None)


def _wait_for_review(root: Path, params: Params, timeout_s: int) -> ReviewDecision:
    """Pause (local run) or suspend (deployment) until the experts' export is submitted."""
    logger = get_run_logger()
    _, deployment_id = _flow_run()
    logger.info("waiting for the experts' export (queue in artifacts/review/queue/)")
    if deployment_id:
        decision = suspend_flow_run(wait_for_input=ReviewDecision, timeout=timeout_s, key="review")
    else:
        decision = pause_flow_run(wait_for_input=ReviewDecision, timeout=timeout_s, key="review")
    if decision.use_auto_policy:
        set_param(root, "review.mode", "auto")
        logger.info("review: auto policy chosen in the UI")
        return decision
    source = Path(decision.export_path).expanduser()
    if not source.is_absolute():
        source = root / source
    if not source.is_file():
        raise FileNotFoundError(f"experts' export not found: {source}")
    from realign_pipeline.review import check_export

    check_export(source, root / "artifacts" / "review" / "queue")
    target = root / params.review.export_path
    if source.resolve() != target.resolve():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    subprocess.run(["dvc", "add", "data"], cwd=root, check=True, capture_output=True)
    logger.info("review: experts' export %s versioned as %s", source, target)
    return decision


def _run_remote(stage: str, deployment: str, root: Path, parent: str | None, force: bool) -> dict:
    """Run one stage as its own deployment (another pool), then pull its outputs."""
    flow_run = run_deployment(
        name=deployment,
        parameters={"stage": stage, "parent_run_id": parent, "force": force},
        timeout=None,
    )
    if not flow_run.state or not flow_run.state.is_completed():
        raise RuntimeError(f"stage {stage} on {deployment} ended {flow_run.state}")
    subprocess.run(["dvc", "pull", stage], cwd=root, check=True)
    return {
        "stage": stage,
        "status": f"ran on {deployment}",
        "duration_s": "",
        "mlflow_run_id": "",
        "mlflow": "",
        "dvc_stage_hash": "",
    }


def _publish(rows: list[dict], root: Path, failed: str | None) -> None:
    create_table_artifact(
        key="realign-stages",
        table=[{k: v for k, v in row.items() if k != "metrics"} for row in rows],
        description="Stages of this run" + (f" (failed at {failed})" if failed else ""),
    )
    stages = dvc_stage_names(root)
    report = (
        root / stage_outputs(root, "evaluate")[0] / EVAL_REPORT if "evaluate" in stages else None
    )
    if report is not None and report.is_file():
        create_markdown_artifact(
            key="realign-eval-report", markdown=report.read_text(), description="Evaluation"
        )


@flow(name="realign-pipeline", log_prints=True)
def realign_pipeline(run: PipelineRun | None = None, repo: str = ".") -> list[dict]:
    """Run the ReAlign stages through DVC with MLflow tracking; return the stages table."""
    run = run or PipelineRun()
    logger = get_run_logger()
    root = Path(repo).resolve()
    flow_run_id, _ = _flow_run()
    with workspace_lock(root, holder=f"prefect flow run {flow_run_id}"):
        if apply_preset(root, run.preset):
            logger.info("params.yaml switched to preset %s", run.preset)
        if run.review_mode != "params" and set_param(root, "review.mode", run.review_mode):
            logger.info("review.mode set to %s for this run", run.review_mode)
        params = load_params(root / "params.yaml")
        # dvc.yaml is the one list of stages, in DAG order; the run may pick a subset
        stages = [s for s in dvc_stage_names(root) if not run.stages or s in run.stages]
        parent = create_run(
            params.tracking,
            "realign-pipeline",
            {
                "prefect.flow_run_id": flow_run_id,
                "realign.preset": params.preset,
                "mlflow.source.git.commit": git_commit(root),
                "realign.stage": "pipeline",
            },
        )
        rows: list[dict] = []
        current = None
        # one `dvc status` up front; it holds until something in this run changes the workspace
        stale = None if run.force else out_of_date(root)
        try:
            for current in stages:
                if current == "review_import" and params.review.mode == "human":
                    _wait_for_review(root, params, params.pipeline.review_timeout_s)
                    stale = None
                deployment = params.pipeline.stage_deployments.get(current)
                if deployment:
                    rows.append(_run_remote(current, deployment, root, parent, run.force))
                    stale = None
                    continue
                stage_task = STAGE_TASKS[current].with_options(
                    retries=params.pipeline.retries,
                    retry_delay_seconds=params.pipeline.retry_delay_s,
                )
                outcome: StageOutcome = stage_task(
                    current,
                    str(root),
                    parent_run_id=parent,
                    force=run.force,
                    up_to_date=stale is not None and current not in stale,
                )
                rows.append(outcome.to_row())
                if outcome.status != "skipped":
                    stale = None
        except Pause:
            # suspended for the experts: this execution ends here; resuming re-runs the flow,
            # which skips the finished stages and opens a new parent run
            rows.append({"stage": current or "", "status": "waiting for review"})
            tracker_for(params.tracking, parent).set_tags({"realign.status": "suspended"})
            end_run(params.tracking, parent, "KILLED")
            _publish(rows, root, None)
            raise
        except BaseException:
            rows.append({"stage": current or "", "status": "FAILED"})
            end_run(params.tracking, parent, "FAILED")
            _publish(rows, root, current)
            raise
        end_run(params.tracking, parent)
        _publish(rows, root, None)
        return rows


HEADLINES = {
    "ingest": ("accepted", "rejected", "leakage"),
    "grpo": (
        "train_reward",
        "eval_format_rate",
        "eval_accuracy",
        "frac_reward_zero_std_second_half",
    ),
    "sample": ("format_rate", "accuracy", "generations_per_s"),
    "review_import": ("pairs", "accepted", "edited", "rejected", "unreviewed"),
    "align": ("val_acc", "train_time_s"),
    "evaluate": ("benchmarks.demo.none.macc", "benchmarks.demo.none.map"),
}


def _print_summary(rows: list[dict]) -> None:
    """What a user running the flow from a terminal wants to see at the end."""
    print(f"{'stage':<15}{'status':<12}{'seconds':>9}  headline metrics")
    for row in rows:
        metrics = row.get("metrics", {})
        heads = ", ".join(
            f"{k}={metrics[k]:.4g}" for k in HEADLINES.get(row["stage"], ()) if k in metrics
        )
        print(f"{row['stage']:<15}{row['status']:<12}{row.get('duration_s', ''):>9}  {heads}")


if __name__ == "__main__":
    _print_summary(realign_pipeline())
    exit_process(0)  # skip tearing down Prefect, MLflow & co. (about 2 s; see cli.common)
