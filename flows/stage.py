"""The `realign-stage` flow: one DVC stage on a work pool of its own (e.g. a GPU pool).

The parent `realign-pipeline` flow starts it through `dispatch` (`run_deployment`), after pushing
the stage's inputs to the DVC remote, with the parent's git commit and the text of its params.yaml,
dvc.lock and changed `.dvc` files. On the worker's machine the flow checks out that commit, writes
those files, pulls exactly the stage's inputs, runs the stage (logging into a nested MLflow run
under the parent's run id), pushes its outputs, and returns its dvc.lock entry and uncached outputs
as the flow run's result, persisted as JSON in the DVC remote (Prefect's result storage, set by
`dispatch` for the run); `dispatch` reads it, writes them into the parent's workspace and pulls
the outputs.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    LogFilter,
    LogFilterFlowRunId,
    LogFilterLevel,
)
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.sorting import LogSort
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.filesystems import LocalFileSystem, RemoteFileSystem
from prefect.states import Cancelled, Cancelling

from flows.workspace import workspace_lock
from realign_pipeline.config import Params, load_params
from realign_pipeline.config.pipeline import PipelineConfig, StageName
from realign_pipeline.config.tracking import TrackingConfig
from realign_pipeline.image import image_ref
from realign_pipeline.tracking.tracker import (
    check_reachable,
    is_remote,
    redact_uri,
    resolve_uri,
)
from tasks.dispatch import (
    DispatchError,
    StageReturn,
    WorkspaceState,
    apply_return,
    apply_state,
    capture_state,
    pull_inputs,
    push_inputs,
    push_outputs,
    remote_url,
    stage_return,
    use_remote,
)
from tasks.stages import stage_task

_POLL_S = 5.0  # how often the parent reads a dispatched stage's flow run
_MAX_REASONS = 8  # warnings of the worker and observer quoted when a stage fails
RESULTS_FOLDER = "prefect-results"  # in the DVC remote: the stage flows' persisted results


def use_result_storage(remote: str) -> dict[str, str]:
    """Environment that makes a stage flow persist its result in the DVC remote both machines
    reach (`<remote>/prefect-results`, a RemoteFileSystem block saved here)."""
    basepath = f"{remote.rstrip('/')}/{RESULTS_FOLDER}"
    name = "realign-results-" + hashlib.sha256(basepath.encode()).hexdigest()[:16]
    # a URL (s3://, gs://, ssh://) through fsspec; a folder (a shared mount) as it is
    storage = RemoteFileSystem if "://" in basepath else LocalFileSystem
    storage(basepath=basepath).save(name, overwrite=True)
    return {"PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK": f"{storage.get_block_type_slug()}/{name}"}


def read_return(flow_run_id: UUID | str) -> StageReturn:
    """The StageReturn a finished `realign-stage` flow run persisted as its result."""
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(flow_run_id).state
    return StageReturn(**state.result(raise_on_failure=True))


# JSON, not Prefect's default pickle: the parent reads the result from shared storage
@flow(
    name="realign-stage",
    flow_run_name="{stage}",
    log_prints=True,
    persist_result=True,
    result_serializer="json",
)
def realign_stage(
    stage: StageName,
    parent_run_id: str | None = None,
    force: bool = False,
    repo: str = ".",
    commit: str = "",
    files: dict[str, str | None] | None = None,
    tracking_uri: str = "",
) -> dict:
    """Run one stage against the parent's commit and files; return its StageReturn as a dict
    (lock entry, uncached outputs, table row), persisted for the parent.

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
        tracking_uri: The parent's MLflow server, which this stage logs into.
    """
    logger = get_run_logger()
    root = Path(repo).resolve()
    with workspace_lock(root, holder=f"realign-stage {stage}"):
        if commit:
            apply_state(root, WorkspaceState(commit=commit, files=files or {}))
            logger.info("checked out %s with the parent's %s", commit[:12], ", ".join(files or {}))
        params = load_params(root / "params.yaml")
        if tracking_uri:
            os.environ["MLFLOW_TRACKING_URI"] = tracking_uri  # the stage's subprocesses too
        if commit:  # sent by a parent: a local store would be this machine's disk
            check_reachable(server_uri(params.tracking), params.tracking.connect_timeout_s)
        remote = use_remote(root, params.pipeline.dvc_remote)
        logger.info("pulled inputs of %s: %s", stage, ", ".join(pull_inputs(root, stage, remote)))
        run = stage_task(stage, params.pipeline)  # the parent's retry policy, as run locally
        outcome = run(stage, str(root), parent_run_id=parent_run_id, force=force)
        push_outputs(root, stage, remote)
        returned = stage_return(root, stage, outcome.to_row())
    return returned.to_dict()


@dataclass(frozen=True)
class StageTarget:
    """Where a dispatched stage runs: its deployment's work pool and the job variables it gets."""

    pool: str
    job_variables: dict


def check_dispatch(root: Path, params: Params, stages: Iterable[str]) -> None:
    """Raise DispatchError now if a stage of this run could not be sent to its deployment."""
    deployments = {d for s in stages if (d := params.pipeline.stage_deployments.get(s))}
    if not deployments:
        return
    use_remote(root, params.pipeline.dvc_remote)
    commit = capture_state(root).commit
    server_uri(params.tracking)
    for deployment in sorted(deployments):
        stage_target(deployment, params.pipeline, commit)


def server_uri(cfg: TrackingConfig) -> str:
    """The MLflow server URI dispatched stages log into ("" when tracking is off).

    Raises:
        DispatchError: the URI in force is a local store (a file no other machine sees, and a
            pod's disk vanishes with it), or it holds credentials (flow parameters are shown in
            the UI; they belong in the environment).
    """
    if not cfg.enabled:
        return ""
    uri = resolve_uri(cfg)
    if not is_remote(uri):
        raise DispatchError(
            f"MLflow tracking URI {redact_uri(uri)} is a local store: stages on other machines "
            "would log into their pod's disk and lose the runs. Set MLFLOW_TRACKING_URI (or "
            "tracking.uri) to an MLflow server both machines reach, e.g. http://mlflow.realign:5000"
        )
    if redact_uri(uri) != uri:
        raise DispatchError(
            "MLFLOW_TRACKING_URI holds credentials (user:password@), which would travel as a "
            "flow parameter: set MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD here and in "
            "the stages' Secret (realign-secrets) instead"
        )
    return uri


def stage_target(deployment: str, pipeline: PipelineConfig, commit: str) -> StageTarget:
    """The deployment's work pool and the job variables a stage sent there gets.

    A pool other than a process pool runs containers: the image is `pipeline.image` tagged with
    the commit the stage must run (never a moving tag such as `latest`).
    """
    with get_client(sync_client=True) as client:
        try:
            found = client.read_deployment_by_name(deployment)
        except ObjectNotFound:
            raise DispatchError(
                f"deployment {deployment!r} (pipeline.stage_deployments) does not exist: "
                "prefect deploy --all --prefect-file deploy/prefect-cluster.yaml"
            ) from None
        pool = client.read_work_pool(found.work_pool_name)
    if pool.type == "process":
        return StageTarget(pool.name, {})
    if not pipeline.image:
        raise DispatchError(
            f"{deployment} runs on the {pool.type} pool {pool.name}, but pipeline.image is "
            "empty: set it to your registry's repository and push this commit's image "
            "(realign image push; docs/cluster.md)"
        )
    return StageTarget(pool.name, {"image": image_ref(pipeline.image, commit)})


def _reasons(client: SyncPrefectClient, flow_run: FlowRun, pool: str) -> list[str]:
    """What Prefect knows about why a flow run did not start or ended badly: its state message,
    the pool's workers, and the warnings the worker and its Kubernetes observer logged for it
    (pod diagnoses such as Unschedulable or ImagePullBackOff, job creation errors)."""
    found = []
    if flow_run.state and flow_run.state.message:
        found.append(flow_run.state.message.strip())
    work_pool = client.read_work_pool(pool)
    if work_pool.is_paused:
        found.append(f"work pool {pool} is paused (prefect work-pool resume {pool})")
    elif str(work_pool.status).endswith("NOT_READY"):
        found.append(
            f"work pool {pool} has no worker online: start its worker (deploy/k8s: "
            f"kubectl -n realign get deploy prefect-worker-{pool}; elsewhere: "
            f"prefect worker start --pool {pool})"
        )
    logs = client.read_logs(
        LogFilter(
            flow_run_id=LogFilterFlowRunId(any_=[flow_run.id]),
            level=LogFilterLevel(ge_=logging.WARNING),
        ),
        limit=_MAX_REASONS,
        sort=LogSort.TIMESTAMP_DESC,
    )
    found.extend(log.message.strip().splitlines()[0][:500] for log in reversed(logs))
    return found


def _stop(client: SyncPrefectClient, flow_run: FlowRun, why: str) -> None:
    """Cancel a flow run the parent gives up on (its worker deletes the job, if any)."""
    handed_over = flow_run.state is not None and not flow_run.state.is_scheduled()
    state = Cancelling(message=why) if handed_over else Cancelled(message=why)
    client.set_flow_run_state(flow_run.id, state, force=True)


def wait_for_stage(flow_run_id: UUID, pool: str, pipeline: PipelineConfig) -> None:
    """Return once the stage's flow run completed; DispatchError with the reasons otherwise.

    Bounded twice: the run must start (reach Running) within `stage_start_timeout_s` and then
    finish within `stage_timeout_s`; a run that misses either is cancelled.
    """
    started_at = None
    begun = time.monotonic()
    with get_client(sync_client=True) as client:
        while True:
            flow_run = client.read_flow_run(flow_run_id)
            state = flow_run.state
            if state is not None and state.is_final():
                break
            now = time.monotonic()
            if started_at is None and state is not None and state.is_running():
                started_at = now
            if started_at is None and now - begun > pipeline.stage_start_timeout_s:
                why = f"did not start within {pipeline.stage_start_timeout_s} s"
            elif started_at is not None and now - started_at > pipeline.stage_timeout_s:
                why = f"did not finish within {pipeline.stage_timeout_s} s"
            else:
                time.sleep(_POLL_S)
                continue
            reasons = _reasons(client, flow_run, pool)
            _stop(client, flow_run, f"the parent stopped waiting: {why}")
            raise DispatchError(_explain(flow_run, why, reasons))
        if not state.is_completed():
            reasons = _reasons(client, flow_run, pool)
            raise DispatchError(_explain(flow_run, f"ended {state.name}", reasons))


def _explain(flow_run: FlowRun, what: str, reasons: list[str]) -> str:
    name = flow_run.state.name if flow_run.state else "without a state"
    head = f"stage flow run {flow_run.name} ({flow_run.id}) {what} (state {name})"
    return head + "".join(f"; {reason}" for reason in reasons)


def dispatch(stage: str, deployment: str, root: Path, parent: str | None, force: bool) -> dict:
    """Run one stage as its own deployment (another pool); its lock entry and outputs come back.

    Pushes the stage's inputs first, so the other machine can pull them; afterwards the parent's
    dvc.lock holds the stage's entry and its outputs are in the workspace. Every wait is
    bounded: DispatchError with the cluster's reason when the stage does not start within
    pipeline.stage_start_timeout_s, ends Crashed/Failed/Cancelled, or outlasts stage_timeout_s.
    """
    logger = get_run_logger()
    params = load_params(root / "params.yaml")
    remote = use_remote(root, params.pipeline.dvc_remote)
    state = capture_state(root)
    target = stage_target(deployment, params.pipeline, state.commit)
    results = use_result_storage(remote_url(root, params.pipeline.dvc_remote))
    tracking_uri = server_uri(params.tracking)
    logger.info("pushed inputs of %s: %s", stage, ", ".join(push_inputs(root, stage, remote)))
    flow_run = run_deployment(
        name=deployment,
        parameters={
            "stage": stage,
            "parent_run_id": parent,
            "force": force,
            "commit": state.commit,
            "files": state.files,
            "tracking_uri": tracking_uri,
        },
        job_variables={**target.job_variables, "env": results},
        timeout=0,  # waited for below, with bounds
    )
    logger.info("%s sent to %s: flow run %s", stage, deployment, flow_run.name)
    wait_for_stage(flow_run.id, target.pool, params.pipeline)
    returned = read_return(flow_run.id)
    apply_return(root, returned, remote)
    logger.info("%s ran on %s; lock entry and outputs are here", stage, deployment)
    return {**returned.row, "status": f"{returned.row.get('status', 'ran')} on {deployment}"}
