"""The `realign-pipeline` flow: every ReAlign stage, in DAG order, as DVC stages.

Each stage is a Prefect task that runs `dvc repro --single-item <stage>` (so unchanged stages are
skipped and every output is versioned); stages that DVC's status (asked in this process, again
after each stage that did something) finds unchanged are reported as skipped with no process and
no MLflow run; the MLflow parent run opens with the first stage that runs. A
stage listed in `pipeline.stage_deployments` runs on its own work pool through `run_deployment`
(the `realign-stage` flow), exchanging data through the DVC remote. In human review mode the flow
waits after `review_export` for the experts' export: a form in the Prefect UI (path of the
export, or "use the auto policy"); deployments suspend (releasing their infrastructure), local
runs pause.

Run locally (ephemeral Prefect API, no server needed; nothing starts when DVC finds every stage
up to date):
    python -m flows.pipeline
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from prefect import flow, get_run_logger, pause_flow_run, suspend_flow_run
from prefect.artifacts import create_markdown_artifact
from prefect.context import get_run_context
from prefect.exceptions import Pause
from prefect.input import RunInput
from pydantic import Field

from flows.stage import check_dispatch, dispatch
from flows.workspace import (
    apply_preset,
    check_workspace,
    kept_params,
    rendered_params,
    set_param,
    workspace_lock,
)
from realign_pipeline.cli.common import exit_process
from realign_pipeline.config import Params, load_params
from realign_pipeline.config.pipeline import StageName
from realign_pipeline.tracking import git_commit
from tasks.dvc_runner import dvc_stage_names, out_of_date, stage_outputs
from tasks.report import eval_markdown, stages_markdown
from tasks.stages import StageOutcome, skipped_outcome, stage_task

EVAL_REPORT = "report.md"  # in the evaluate stage's output folder (dvc.yaml)


Preset = Literal["tiny", "paper", "paper-aigcdetect", "paper-holmes"]
ReviewMode = Literal["params", "auto", "human"]


def _stage_list(stages: Sequence[str]) -> str:
    """`ingest, grpo` for a few stages, `ingest..evaluate (9 stages)` for many."""
    if not stages:
        return "default stages"
    if len(stages) <= 3:
        return ", ".join(stages)
    return f"{stages[0]}..{stages[-1]} ({len(stages)} stages)"


def _run_name() -> str:
    """Flow run name: what the run does, e.g. `tiny align.strategy=bce_only: default stages,
    force`. A name typed in the run form's Run Name is kept: anything but the lowercase,
    hyphenated names Prefect generates (`crafty-lemur`, the UI's `beta-holna-p`)."""
    from prefect.runtime import flow_run

    if flow_run.name and not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)+", flow_run.name):
        return flow_run.name
    params = flow_run.parameters
    label = " ".join([params.get("preset", "tiny"), *(params.get("overrides") or ())])
    name = f"{label}: {_stage_list(params.get('stages') or ())}"
    return name + (", force" if params.get("force") else "")


def tag_flow_run(tags: Sequence[str]) -> None:
    """Add `tags` to the current flow run (kept: the tags it already has)."""
    from prefect import get_client

    flow_run_id, _ = _flow_run()
    with get_client(sync_client=True) as client:
        current = client.read_flow_run(flow_run_id).tags or []
        client.update_flow_run(flow_run_id, tags=sorted({*current, *tags}))


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


def _publish(rows: list[dict], root: Path, failed: str | None) -> None:
    """The stages table and the evaluation report (headline first) as Prefect artifacts."""
    create_markdown_artifact(
        key="realign-stages",
        markdown=stages_markdown(rows, failed),
        description="Stages of this run" + (f" (failed at {failed})" if failed else ""),
    )
    stages = dvc_stage_names(root)
    report = (
        root / stage_outputs(root, "evaluate")[0] / EVAL_REPORT if "evaluate" in stages else None
    )
    if report is not None and report.is_file():
        evaluate = next((r for r in rows if r.get("stage") == "evaluate"), {})
        create_markdown_artifact(
            key="realign-eval-report",
            markdown=eval_markdown(evaluate.get("metrics") or {}, report.read_text()),
            description="Evaluation: mAcc and mAP per benchmark, then the full report",
        )


# stages whose headline metrics the pipeline's parent run carries too (names unique across them)
PARENT_METRIC_STAGES = ("grpo", "align", "evaluate")


@dataclass
class _ParentRun:
    """The flow's MLflow parent run, named `<preset> [<overrides>] <short commit>` (what differs
    from the preset's file), with the params that define it.

    Opened when the first stage actually runs, or at once when the run switched params.yaml (a
    new variant): a run of the same params whose stages are all up to date opens no MLflow run
    at all (nothing new to record), and it does not even import MLflow.
    """

    params: Params
    root: Path
    commit: str
    flow_run_id: str
    stages: Sequence[str]
    force: bool
    run_id: str | None = None
    opened: bool = False
    metrics: dict[str, float] = field(default_factory=dict)

    def open(self) -> str | None:
        if self.opened:
            return self.run_id
        from realign_pipeline.tracking.lifecycle import create_variant_run

        params = self.params
        self.run_id = create_variant_run(
            params.tracking,
            self.root,
            params.model_dump(mode="json"),
            self.commit,
            {"prefect.flow_run_id": self.flow_run_id},
            {
                "preset": params.preset,
                "stages": ",".join(self.stages),
                "review.mode": params.review.mode,
                "force": self.force,
            },
        )
        self.opened = True
        self._tracker().log_metrics(self.metrics)  # of the stages before it that were skipped
        return self.run_id

    def _tracker(self):  # noqa: ANN202 - realign_pipeline.tracking.Tracker, imported lazily
        from realign_pipeline.tracking import tracker_for

        return tracker_for(self.params.tracking, self.run_id)

    def log_metrics(self, metrics: dict[str, float]) -> None:
        self.metrics.update(metrics)
        if self.opened:
            self._tracker().log_metrics(metrics)

    def end(self, status: str = "FINISHED") -> None:
        if self.opened:
            from realign_pipeline.tracking import end_run

            if status == "KILLED":
                self._tracker().set_tags({"realign.status": "suspended"})
            end_run(self.params.tracking, self.run_id, status)


@flow(name="realign-pipeline", flow_run_name=_run_name, log_prints=True)
def realign_pipeline(
    preset: Preset = "tiny",
    stages: tuple[StageName, ...] = (),
    review_mode: ReviewMode = "params",
    force: bool = False,
    repo: str = ".",
    overrides: tuple[str, ...] = (),
) -> list[dict]:
    """Run the ReAlign stages through DVC with MLflow tracking; return the stages table.

    Args:
        preset: Params preset made active for this run: presets/tiny.yaml (CPU, minutes),
            presets/paper.yaml (the paper's models, GPUs), or one of the paper's two protocols
            (paper-aigcdetect, paper-holmes) is rendered to params.yaml.
        stages: Stages to run, in DAG order whatever the order picked here; empty runs every
            stage of dvc.yaml.
        review_mode: Expert review of the reasoning texts: as set in params (review.mode), auto
            (drop misjudged or malformed answers, no humans), or human (the run waits after
            review_export for the experts' export).
        force: Recompute the stages even when DVC finds their inputs unchanged.
        repo: Checkout of this repository the flow works in (relative to the worker's
            working directory, which the deployments set to REALIGN_REPO).
        overrides: Values that differ from the preset for this run, one `section.key=value`
            each (e.g. align.strategy=bce_only, align.learning_rate=3e-4); checked against the
            config before any stage runs. They name the run, its tags and its MLflow parent run.
    """
    logger = get_run_logger()
    root = check_workspace(repo)  # before anything is created there
    flow_run_id, _ = _flow_run()
    with (
        workspace_lock(root, holder=f"prefect flow run {flow_run_id}"),
        kept_params(root, keep=lambda exc: isinstance(exc, Pause)),
    ):
        switched = apply_preset(root, preset, overrides)
        if switched:
            logger.info("params.yaml rendered from preset %s %s", preset, " ".join(overrides))
        if review_mode != "params" and set_param(root, "review.mode", review_mode):
            logger.info("review.mode set to %s for this run", review_mode)
        params = load_params(root / "params.yaml")
        # dvc.yaml is the one list of stages, in DAG order; the run may pick a subset
        stages = tuple(s for s in dvc_stage_names(root) if not stages or s in stages)
        check_dispatch(root, params, stages)  # fail now, not after hours of stages
        if params.preset != "tiny" and "ingest" in stages:  # what ingest would refuse, now
            from realign_pipeline.data.checks import raise_refusals
            from realign_pipeline.data.inspect import inspect_data

            raise_refusals(inspect_data(root / "data", params.ingest).findings)
        commit = git_commit(root)
        tag_flow_run(
            [
                f"preset:{params.preset}",
                *overrides,
                f"commit:{commit[:7]}",
                f"force:{force}".lower(),
            ]
        )
        parent = _ParentRun(params, root, commit, flow_run_id, stages, force)
        if switched:
            parent.open()  # a new variant is recorded even when none of its stages must run
        return _run_stages(root, params, stages, parent, force)


def _run_stages(
    root: Path, params: Params, stages: Sequence[str], parent: _ParentRun, force: bool
) -> list[dict]:
    """Run `stages` in order; publish the stages table (and evaluation report) either way."""
    rows: list[dict] = []
    current = None
    # DVC's status, asked in-process: up-to-date stages cost no process and no MLflow run; it is
    # asked again after each stage that did something
    stale = None if force else out_of_date(root)
    try:
        for current in stages:
            if current == "review_import" and params.review.mode == "human":
                _wait_for_review(root, params, params.pipeline.review_timeout_s)
                stale = None if force else out_of_date(root)
            up_to_date = stale is not None and current not in stale
            deployment = params.pipeline.stage_deployments.get(current)
            if deployment and not up_to_date:
                rows.append(dispatch(current, deployment, root, parent.open(), force))
                stale = None if force else out_of_date(root)
                continue
            outcome: StageOutcome = stage_task(current, params.pipeline)(
                current,
                str(root),
                parent_run_id=None if up_to_date else parent.open(),
                force=force,
                up_to_date=up_to_date,
            )
            rows.append(outcome.to_row())
            if current in PARENT_METRIC_STAGES:
                parent.log_metrics(outcome.metrics)
            if outcome.status != "skipped" and not force:
                stale = out_of_date(root)
    except Pause:
        # suspended for the experts: this execution ends here; resuming re-runs the flow,
        # which skips the finished stages and opens a new parent run
        rows.append({"stage": current or "", "status": "waiting for review"})
        parent.end("KILLED")
        _publish(rows, root, None)
        raise
    except BaseException as exc:
        rows.append({"stage": current or "", "status": "FAILED", "error": str(exc)})
        parent.end("FAILED")
        _publish(rows, root, current)
        raise
    parent.end()
    _publish(rows, root, None)
    return rows


def _print_summary(rows: list[dict]) -> None:
    """What a user running the flow from a terminal wants to see at the end."""
    print(f"{'stage':<15}{'status':<12}{'seconds':>9}  headline metrics")
    for row in rows:
        # the stage's metrics file holds its headline numbers only (realign_pipeline.headline)
        heads = ", ".join(f"{k}={v:.4g}" for k, v in row.get("metrics", {}).items())
        print(f"{row['stage']:<15}{row['status']:<12}{row.get('duration_s', ''):>9}  {heads}")


def _main() -> None:
    """`python -m flows.pipeline`: the default run (tiny preset, every stage) in this checkout.

    Like `dvc repro`, it first asks DVC whether anything is to be done: when params.yaml already
    holds the tiny preset and every stage is up to date, it prints the table and starts no flow
    run (no Prefect API, no MLflow run); otherwise it runs the flow.
    """
    root = Path.cwd()
    if rendered_params(root, "tiny") is None and out_of_date(root) == set():
        print("every stage is up to date (DVC's status): nothing to run, no flow run started")
        _print_summary([skipped_outcome(root, s).to_row() for s in dvc_stage_names(root)])
    else:
        _print_summary(realign_pipeline())
    exit_process(0)  # skip tearing down Prefect, MLflow & co. (about 2 s; see cli.common)


if __name__ == "__main__":
    _main()
