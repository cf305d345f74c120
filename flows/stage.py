"""The `realign-stage` flow: one DVC stage on a work pool of its own (e.g. a GPU pool).

The parent `realign-pipeline` flow starts it through `dispatch` (`run_deployment`), after pushing
the stage's inputs to the DVC remote, with the parent's git commit and the text of its params.yaml,
dvc.lock and changed `.dvc` files. On the worker's machine the flow checks out that commit, writes
those files, pulls exactly the stage's inputs, runs the stage (logging into a nested MLflow run
under the parent's run id), pushes its outputs, and publishes its dvc.lock entry and uncached
outputs as an artifact; `dispatch` writes them into the parent's workspace and pulls the outputs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
)
from prefect.deployments import run_deployment

from flows.workspace import workspace_lock
from realign_pipeline.config import load_params
from realign_pipeline.config.pipeline import PipelineConfig, StageName
from tasks.dispatch import (
    StageReturn,
    WorkspaceState,
    apply_return,
    apply_state,
    capture_state,
    pull_inputs,
    push_inputs,
    push_outputs,
    stage_return,
    use_remote,
)
from tasks.stages import STAGE_TASKS

RETURN_KEY = "realign-stage-return"
_FENCE = "```"


def _publish_return(returned: StageReturn) -> None:
    body = json.dumps(returned.to_dict(), indent=1)
    create_markdown_artifact(
        key=RETURN_KEY,
        markdown=f"dvc.lock entry and uncached outputs of `{returned.stage}`, written into the "
        f"parent's workspace:\n\n{_FENCE}json\n{body}\n{_FENCE}\n",
        description=f"{returned.stage}: what goes back to the parent",
    )


def read_return(flow_run_id: str) -> StageReturn:
    """The StageReturn a `realign-stage` flow run published (RuntimeError when it has none)."""
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[RETURN_KEY]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
            )
        )
    if not found:
        raise RuntimeError(f"flow run {flow_run_id} published no {RETURN_KEY} artifact")
    text = str(found[0].data)
    start = text.index(f"{_FENCE}json\n") + len(f"{_FENCE}json\n")
    body = text[start : text.rindex(_FENCE)]
    return StageReturn(**json.loads(body))


@flow(name="realign-stage", flow_run_name="{stage}", log_prints=True)
def realign_stage(
    stage: StageName,
    parent_run_id: str | None = None,
    force: bool = False,
    repo: str = ".",
    commit: str = "",
    files: dict[str, str | None] | None = None,
) -> dict:
    """Run one stage against the parent's commit and files; return the stage's table row.

    Args:
        stage: The DVC stage to run on this work pool.
        parent_run_id: MLflow run of the realign-pipeline flow that started this one (the stage's
            run is nested under it); empty for a stand-alone run.
        force: Recompute the stage even when DVC finds its inputs unchanged.
        repo: Checkout of this repository the flow works in (relative to the worker's working
            directory, which the deployments set to REALIGN_REPO).
        commit: The parent's git commit, checked out here first; empty: this checkout as it is.
        files: Text of the parent's params.yaml, dvc.lock and changed .dvc files (None: absent),
            written over this checkout's.
    """
    logger = get_run_logger()
    root = Path(repo).resolve()
    with workspace_lock(root, holder=f"realign-stage {stage}"):
        if commit:
            apply_state(root, WorkspaceState(commit=commit, files=files or {}))
            logger.info("checked out %s with the parent's %s", commit[:12], ", ".join(files or {}))
        params = load_params(root / "params.yaml")
        remote = use_remote(root, params.pipeline.dvc_remote)
        logger.info("pulled inputs of %s: %s", stage, ", ".join(pull_inputs(root, stage, remote)))
        outcome = STAGE_TASKS[stage](stage, str(root), parent_run_id=parent_run_id, force=force)
        push_outputs(root, stage, remote)
        returned = stage_return(root, stage, outcome.to_row())
        _publish_return(returned)
    return returned.row


def check_dispatch(root: Path, pipeline: PipelineConfig, stages: Iterable[str]) -> None:
    """Raise DispatchError now if a stage of this run could not be sent to its deployment."""
    if any(stage in pipeline.stage_deployments for stage in stages):
        use_remote(root, pipeline.dvc_remote)
        capture_state(root)


def dispatch(stage: str, deployment: str, root: Path, parent: str | None, force: bool) -> dict:
    """Run one stage as its own deployment (another pool); its lock entry and outputs come back.

    Pushes the stage's inputs first, so the other machine can pull them; afterwards the parent's
    dvc.lock holds the stage's entry and its outputs are in the workspace.
    """
    logger = get_run_logger()
    params = load_params(root / "params.yaml")
    remote = use_remote(root, params.pipeline.dvc_remote)
    state = capture_state(root)
    logger.info("pushed inputs of %s: %s", stage, ", ".join(push_inputs(root, stage, remote)))
    flow_run = run_deployment(
        name=deployment,
        parameters={
            "stage": stage,
            "parent_run_id": parent,
            "force": force,
            "commit": state.commit,
            "files": state.files,
        },
        timeout=None,
    )
    if not flow_run.state or not flow_run.state.is_completed():
        raise RuntimeError(f"stage {stage} on {deployment} ended {flow_run.state}")
    returned = read_return(str(flow_run.id))
    apply_return(root, returned, remote)
    logger.info("%s ran on %s; lock entry and outputs are here", stage, deployment)
    return {**returned.row, "status": f"{returned.row.get('status', 'ran')} on {deployment}"}
