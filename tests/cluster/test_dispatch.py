"""Dispatching a stage to another machine: what travels, what comes back, and which stages go.

Two git clones of a toy workspace (tests/orchestration/conftest.py) stand for the parent and the
stage's machine, with a DVC remote folder outside both; the `realign-stage` flow runs under the
Prefect test harness. The same path through a real Prefect server and worker and an S3 remote is
tests/cluster/test_remote_stage.py.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC
from pathlib import Path

import pytest
import yaml

from tasks.dispatch import (
    DispatchError,
    WorkspaceState,
    apply_return,
    apply_state,
    capture_state,
    input_targets,
    push_inputs,
    use_remote,
    write_lock_entry,
)


def _sh(cwd: Path, *cmd: str) -> str:
    return subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout


def _set_params(ws: Path, **pipeline) -> None:
    params = yaml.safe_load((ws / "params.yaml").read_text())
    params["pipeline"].update(pipeline)
    (ws / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def _set_tracking(ws: Path, **tracking) -> None:
    params = yaml.safe_load((ws / "params.yaml").read_text())
    params["tracking"].update(tracking)
    (ws / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def _stage_deployment(pool: str, pool_type: str = "process") -> str:
    """Register the realign-stage flow as deployment `realign-stage/<pool>` on a pool of that
    name (no worker): what `prefect deploy` of deploy/prefect-cluster.yaml does."""
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    from flows.stage import realign_stage

    with get_client(sync_client=True) as client:
        try:
            client.create_work_pool(WorkPoolCreate(name=pool, type=pool_type))
        except ObjectAlreadyExists:
            pass
        flow_id = client.create_flow(realign_stage)
        client.create_deployment(flow_id=flow_id, name=pool, work_pool_name=pool)
    return f"realign-stage/{pool}"


def _commit(ws: Path, message: str) -> str:
    _sh(ws, "git", "add", "-A")
    _sh(ws, "git", "commit", "-qm", message)
    return _sh(ws, "git", "rev-parse", "HEAD").strip()


def test_input_targets_are_the_deps_dvc_versions(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "dvc.yaml").write_text(
        yaml.safe_dump(
            {
                "stages": {
                    "a": {"cmd": "x", "outs": ["artifacts/a"]},
                    "b": {
                        "cmd": "x",
                        "outs": ["artifacts/b"],
                        "metrics": [{"metrics/b.json": {"cache": False}}],
                    },
                    "c": {
                        "cmd": "x",
                        "deps": ["src", "data/train", "artifacts/a/part.parquet"],
                    },
                    "d": {"cmd": "x", "deps": ["artifacts"]},
                    "e": {"cmd": "x", "deps": ["metrics/b.json"]},
                }
            }
        )
    )
    (ws / "data.dvc").write_text(yaml.safe_dump({"outs": [{"path": "data", "md5": "0"}]}))
    _sh(ws, "git", "init", "-q")
    _sh(ws, "git", "add", "-A")
    assert input_targets(ws, "c") == ["artifacts/a/part.parquet", "data/train"]
    assert input_targets(ws, "d") == ["artifacts/a", "artifacts/b"]
    assert input_targets(ws, "a") == []
    with pytest.raises(DispatchError, match="metrics/b.json, an output with `cache: false`"):
        input_targets(ws, "e")


def test_capture_state_sends_pinning_files_and_refuses_other_changes(toy_workspace: Path) -> None:
    ws = toy_workspace
    head = _sh(ws, "git", "rev-parse", "HEAD").strip()
    _set_params(ws, dvc_remote="s3://bucket/realign")
    (ws / "data.dvc").write_text("outs:\n- path: data\n")  # an untracked .dvc file travels too
    state = capture_state(ws)
    assert state.commit == head
    assert state.files["params.yaml"] == (ws / "params.yaml").read_text()
    assert state.files["dvc.lock"] is None  # absent here: removed on the other side
    assert state.files["data.dvc"].startswith("outs:")

    (ws / "stage.py").write_text((ws / "stage.py").read_text() + "\n# edited\n")
    with pytest.raises(DispatchError, match=r"uncommitted changes \(stage.py\).*git commit"):
        capture_state(ws)


def test_apply_state_checks_out_the_parents_commit(toy_workspace: Path, tmp_path: Path) -> None:
    parent = toy_workspace
    pod = tmp_path / "pod"
    _sh(tmp_path, "git", "clone", "-q", str(parent), str(pod))
    (parent / "notes.txt").write_text("after the clone\n")
    commit = _commit(parent, "a commit the pod has not seen")  # fetched from origin
    apply_state(pod, WorkspaceState(commit, {"params.yaml": "seed: 1\n", "dvc.lock": None}))
    assert _sh(pod, "git", "rev-parse", "HEAD").strip() == commit
    assert (pod / "notes.txt").is_file() and (pod / "params.yaml").read_text() == "seed: 1\n"

    # the next dispatch replaces the previous one's files instead of tripping over them
    (parent / "notes.txt").write_text("again\n")
    newer = _commit(parent, "another")
    apply_state(pod, WorkspaceState(newer, {"params.yaml": "seed: 2\n"}))
    assert _sh(pod, "git", "rev-parse", "HEAD").strip() == newer

    with pytest.raises(DispatchError, match="not a full git commit id"):
        apply_state(pod, WorkspaceState("--upload-pack=touch x", {}))
    with pytest.raises(DispatchError, match="is not in .* nor in its origin"):
        apply_state(pod, WorkspaceState("0" * 40, {}))
    with pytest.raises(DispatchError, match="refusing to write"):
        apply_state(pod, WorkspaceState(newer, {"../evil.dvc": "x"}))
    with pytest.raises(DispatchError, match="refusing to write"):
        apply_state(pod, WorkspaceState(newer, {"stage.py": "x"}))


def test_use_remote_refuses_a_folder_only_this_machine_has(toy_workspace: Path, tmp_path) -> None:
    ws = toy_workspace
    with pytest.raises(DispatchError, match="no DVC remote.*pipeline.dvc_remote"):
        use_remote(ws, "")
    _sh(ws, "dvc", "remote", "add", "-d", "local", ".dvc-storage")  # as in the project
    with pytest.raises(DispatchError, match="only this machine has"):
        use_remote(ws, "")
    assert use_remote(ws, "s3://bucket/realign") == ["--remote", "override"]
    assert "s3://bucket/realign" in (ws / ".dvc" / "config.local").read_text()
    _sh(ws, "dvc", "remote", "modify", "local", "url", str(tmp_path / "shared-mount"))
    assert use_remote(ws, "") == []


def test_write_lock_entry_keeps_the_other_entries(tmp_path: Path) -> None:
    lock = tmp_path / "dvc.lock"
    write_lock_entry(tmp_path, "b", {"cmd": "b"})
    write_lock_entry(tmp_path, "a", {"cmd": "a"})
    write_lock_entry(tmp_path, "b", {"cmd": "b2", "outs": [{"path": "x", "md5": "1"}]})
    data = yaml.safe_load(lock.read_text())
    assert data["schema"] == "2.0"
    assert list(data["stages"]) == ["b", "a"]
    assert data["stages"]["b"] == {"cmd": "b2", "outs": [{"path": "x", "md5": "1"}]}


def test_pipeline_sends_listed_stages_to_their_deployment(
    toy_workspace: Path, tmp_path: Path, prefect_harness, monkeypatch
) -> None:
    import flows.pipeline as pipeline

    sent = []

    def fake_dispatch(stage, deployment, root, parent, force):  # noqa: ANN001, ANN202
        sent.append((stage, deployment, root, force))
        subprocess.run(["dvc", "repro", "--single-item", stage], cwd=root, check=True)
        return {"stage": stage, "status": f"ran on {deployment}"}

    monkeypatch.setattr(pipeline, "dispatch", fake_dispatch)
    _stage_deployment("gpu-24gb")
    _set_tracking(toy_workspace, enabled=False)
    _set_params(
        toy_workspace,
        stage_deployments={"review_export": "realign-stage/gpu-24gb"},
        dvc_remote=str(tmp_path / "remote"),
    )
    stages = ("ingest", "review_export", "review_import")
    rows = pipeline.realign_pipeline(stages=stages, repo=str(toy_workspace))
    assert sent == [("review_export", "realign-stage/gpu-24gb", toy_workspace.resolve(), False)]
    assert [r["status"] for r in rows] == ["ran", "ran on realign-stage/gpu-24gb", "ran"]


def test_pipeline_stops_before_any_stage_when_dispatch_cannot_work(
    toy_workspace: Path, prefect_harness
) -> None:
    from flows.pipeline import realign_pipeline

    _set_params(toy_workspace, stage_deployments={"review_export": "realign-stage/gpu-24gb"})
    with pytest.raises(DispatchError, match="no DVC remote"):
        realign_pipeline(stages=("ingest", "review_export"), repo=str(toy_workspace))
    assert not (toy_workspace / "artifacts" / "ingest").exists()


def test_stage_round_trip_leaves_the_parent_clean(
    toy_workspace: Path, tmp_path: Path, prefect_harness
) -> None:
    """Parent pushes, the stage flow runs in the other clone, its lock entry and outputs return
    as the flow run's result, persisted as JSON in the DVC remote."""
    from prefect.settings import PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK, temporary_settings

    from flows.stage import RESULTS_FOLDER, read_return, realign_stage, use_result_storage
    from tasks.dispatch import remote_url

    parent = toy_workspace
    pod = tmp_path / "pod"
    _sh(tmp_path, "git", "clone", "-q", str(parent), str(pod))
    _set_params(parent, dvc_remote=str(tmp_path / "remote"))  # not committed: it travels
    _set_tracking(parent, enabled=False)  # a dispatched stage refuses a local MLflow store
    _sh(parent, "dvc", "repro", "--single-item", "ingest")
    remote = use_remote(parent, str(tmp_path / "remote"))
    state = capture_state(parent)
    assert push_inputs(parent, "review_export", remote) == ["artifacts/ingest"]

    storage = use_result_storage(remote_url(parent, str(tmp_path / "remote")))
    block = storage["PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK"]  # what dispatch sets for the run
    with temporary_settings(updates={PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK: block}):
        final = realign_stage(
            stage="review_export",
            repo=str(pod),
            commit=state.commit,
            files=state.files,
            return_state=True,
        )
    assert final.is_completed()
    texts = [p.read_text() for p in (tmp_path / "remote" / RESULTS_FOLDER).iterdir()]
    assert all(json.loads(text) for text in texts)  # JSON, never pickle
    assert any('"lock"' in text for text in texts)  # the stage's result is among them
    returned = read_return(final.state_details.flow_run_id)
    assert returned.files == {
        "metrics/review_export.json": (pod / "metrics/review_export.json").read_text()
    }
    apply_return(parent, returned, remote)

    pod_lock = yaml.safe_load((pod / "dvc.lock").read_text())["stages"]["review_export"]
    parent_lock = yaml.safe_load((parent / "dvc.lock").read_text())["stages"]
    assert parent_lock["review_export"] == pod_lock and "ingest" in parent_lock
    for rel in ("artifacts/review_export/run_id.txt", "metrics/review_export.json"):
        assert (parent / rel).read_bytes() == (pod / rel).read_bytes()
    status = _sh(parent, "dvc", "status", "--with-deps", "review_export")
    assert "up to date" in status, status

    forged = type(returned)(stage="review_export", lock={}, files={"stage.py": "x"})
    with pytest.raises(DispatchError, match="not one of its outputs"):
        apply_return(parent, forged, remote)


@pytest.mark.parametrize("scheme", ["s3", "gs", "ssh"])
def test_dvc_remote_plugins_are_installed(scheme: str) -> None:
    from dvc.fs import get_fs_cls

    fs_cls = get_fs_cls({"url": f"{scheme}://bucket/realign"})  # dvc-s3, dvc-gs, dvc-ssh
    assert fs_cls.protocol == scheme
    assert not fs_cls.get_missing_deps()


def test_dispatch_refuses_a_local_mlflow_store_and_credentials_in_the_uri(
    toy_workspace: Path, tmp_path: Path, prefect_harness, monkeypatch
) -> None:
    from flows.pipeline import realign_pipeline

    _stage_deployment("gpu-24gb")
    _set_params(
        toy_workspace,
        stage_deployments={"review_export": "realign-stage/gpu-24gb"},
        dvc_remote=str(tmp_path / "remote"),
    )
    with pytest.raises(DispatchError, match=r"is a local store.*Set MLFLOW_TRACKING_URI"):
        realign_pipeline(stages=("ingest", "review_export"), repo=str(toy_workspace))
    assert not (toy_workspace / "artifacts" / "ingest").exists()  # stopped before any stage

    from flows.stage import server_uri
    from realign_pipeline.config import load_params

    tracking = load_params(toy_workspace / "params.yaml").tracking
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://user:pw@mlflow.internal")
    with pytest.raises(DispatchError, match="holds credentials") as err:
        server_uri(tracking)
    assert "pw" not in str(err.value)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.realign:5000")
    assert server_uri(tracking) == "http://mlflow.realign:5000"


def test_stage_flow_refuses_to_log_into_its_own_disk(
    toy_workspace: Path, tmp_path: Path, prefect_harness
) -> None:
    from flows.stage import realign_stage

    pod = tmp_path / "pod"
    _sh(tmp_path, "git", "clone", "-q", str(toy_workspace), str(pod))
    state = capture_state(toy_workspace)  # params.yaml with a sqlite tracking URI
    with pytest.raises(DispatchError, match="is a local store"):
        realign_stage(stage="ingest", repo=str(pod), commit=state.commit, files=state.files)
    assert not (pod / "artifacts" / "ingest").exists()


def test_stage_target_sets_the_commits_image_on_container_pools(prefect_harness) -> None:
    from flows.stage import stage_target
    from realign_pipeline.config import load_params
    from realign_pipeline.config.pipeline import PipelineConfig

    pipeline = load_params(Path("params.yaml")).pipeline
    commit = "a" * 40
    process = stage_target(_stage_deployment("cpu-pool"), pipeline, commit)
    assert process.job_variables == {}  # a process pool runs the checkout, not an image
    k8s = _stage_deployment("gpu-k8s", pool_type="kubernetes")
    with pytest.raises(DispatchError, match=r"pipeline.image is empty.*realign image push"):
        stage_target(k8s, pipeline, commit)
    repository = "registry.internal:5000/ml/realign-pipeline"
    with_image = PipelineConfig(**{**pipeline.model_dump(), "image": repository})
    target = stage_target(k8s, with_image, commit)
    assert target.job_variables == {"image": f"{repository}:{commit}"}
    with pytest.raises(DispatchError, match="does not exist: prefect deploy"):
        stage_target("realign-stage/nowhere", with_image, commit)


def test_a_stage_nobody_picks_up_fails_with_the_reason_and_is_cancelled(prefect_harness) -> None:
    """A pool without a worker: the run stays Scheduled; the parent stops after the timeout."""
    from prefect import get_client
    from prefect.deployments import run_deployment

    from flows.stage import wait_for_stage
    from realign_pipeline.config import load_params

    pipeline = load_params(Path("params.yaml")).pipeline.model_copy(
        update={"stage_start_timeout_s": 3}
    )
    deployment = _stage_deployment("unattended")
    run = run_deployment(deployment, parameters={"stage": "ingest"}, timeout=0, as_subflow=False)
    with pytest.raises(DispatchError) as err:
        wait_for_stage(run.id, "unattended", pipeline)
    message = str(err.value)
    assert "did not start within 3 s (state Scheduled)" in message
    assert "work pool unattended has no worker online" in message
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(run.id).state.is_cancelled()


def test_a_stage_the_worker_crashes_fails_with_the_clusters_reason(prefect_harness) -> None:
    """What prefect-kubernetes reports for a pod that cannot start: a diagnosis logged on the
    flow run by its observer, then the run marked Crashed with the job's failure."""
    import threading
    from datetime import datetime

    from prefect import get_client
    from prefect.client.schemas.actions import LogCreate
    from prefect.deployments import run_deployment
    from prefect.states import Crashed, Pending

    from flows.stage import wait_for_stage
    from realign_pipeline.config import load_params

    pipeline = load_params(Path("params.yaml")).pipeline
    run = run_deployment(
        _stage_deployment("crashing"), parameters={"stage": "ingest"}, timeout=0, as_subflow=False
    )
    diagnosis = (
        "Image pull failed: Back-off pulling image registry.internal:5000/ml/realign-pipeline:"
        "0000000 Resolution: check the image name and tag, and the registry credentials"
    )

    def worker_and_observer() -> None:
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(run.id, Pending(), force=True)
            client.create_logs([LogCreate(
                name="prefect.flow_runs.observer", level=40, message=diagnosis,
                timestamp=datetime.now(UTC), flow_run_id=run.id,
            )])  # fmt: skip
            client.set_flow_run_state(
                run.id, Crashed(message="Job reached its deadline: DeadlineExceeded"), force=True
            )

    threading.Timer(1.0, worker_and_observer).start()
    with pytest.raises(DispatchError) as err:
        wait_for_stage(run.id, "crashing", pipeline)
    message = str(err.value)
    assert "ended Crashed" in message and "DeadlineExceeded" in message
    assert "Image pull failed: Back-off pulling image" in message


def test_dispatched_and_local_stages_share_the_retry_policy() -> None:
    from realign_pipeline.config import load_params
    from tasks.stages import stage_task

    pipeline = load_params(Path("params.yaml")).pipeline.model_copy(
        update={"retries": 5, "retry_delay_s": [1.0, 2.0]}
    )
    task = stage_task("align", pipeline)  # what realign_stage and realign_pipeline both run
    assert (task.name, task.retries, task.retry_delay_seconds) == ("align", 5, [1.0, 2.0])
