"""The `realign-stage` flow: one DVC stage on a work pool of its own (e.g. a GPU pool).

The parent `realign-pipeline` flow starts it with `run_deployment`. It runs in a fresh checkout
on the worker's machine, so it pulls the stage's inputs from the DVC remote, runs the stage
(logging into a nested MLflow run under the parent's run id), and pushes the outputs back.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from prefect import flow, get_run_logger

from realign_pipeline.config import load_params
from realign_pipeline.config.pipeline import StageName
from tasks.stages import STAGE_TASKS


def _dvc(root: Path, *args: str) -> None:
    subprocess.run(["dvc", *args], cwd=root, check=True)


@flow(name="realign-stage", flow_run_name="{stage}", log_prints=True)
def realign_stage(
    stage: StageName, parent_run_id: str | None = None, force: bool = False, repo: str = "."
) -> dict:
    """Pull inputs, run one stage, push its outputs; return the stage's table row.

    Args:
        stage: The DVC stage to run on this work pool.
        parent_run_id: MLflow run of the realign-pipeline flow that started this one (the stage's
            run is nested under it); empty for a stand-alone run.
        force: Recompute the stage even when DVC finds its inputs unchanged.
        repo: Checkout of this repository the flow works in (relative to the worker's working
            directory, which the deployments set to REALIGN_REPO).
    """
    logger = get_run_logger()
    root = Path(repo).resolve()
    params = load_params(root / "params.yaml")
    remote = ["--remote", "override"] if params.pipeline.dvc_remote else []
    if params.pipeline.dvc_remote:
        _dvc(root, "remote", "add", "--local", "--force", "override", params.pipeline.dvc_remote)
    logger.info("pulling inputs of %s", stage)
    _dvc(root, "pull", *remote, "--with-deps", "--allow-missing", stage)
    outcome = STAGE_TASKS[stage](stage, str(root), parent_run_id=parent_run_id, force=force)
    _dvc(root, "push", *remote, stage)
    return outcome.to_row()
