"""A real stage on "another machine": two clones, an S3 remote, a Prefect server and worker.

The parent is a fresh copy of this repository with the demo data; the "pod" is a `git clone` of
it that the parent then moves past (one more commit), so the pod has to fetch the commit. A moto
S3 server on 127.0.0.1 is the DVC remote (`pipeline.dvc_remote`, left uncommitted in the parent's
params.yaml so that it has to travel), an `mlflow server` the tracking server both log into, a
real `prefect server` runs the `realign-stage/gpu-24gb` deployment of deploy/prefect-cluster.yaml
on a process pool of that name, served by a `prefect worker` in the pod clone. The parent's
`realign-pipeline` flow dispatches `ingest` there with `run_deployment`; afterwards the parent
holds the pod's outputs byte for byte, the same dvc.lock entry, and `dvc status` finds the stage
and its inputs up to date.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import yaml

from flows.workspace import set_param
from tests.e2e.workspace import copy_repo, sh
from tests.orchestration.test_prefect_server import prefect_worker
from tests.reliability.mlflow_server import free_port, mlflow_server

BUCKET = "realign-test"
DEPLOYMENT = "realign-stage/gpu-24gb"


@pytest.fixture
def s3_remote():
    """Environment for boto3/DVC pointing at a moto S3 server on 127.0.0.1 with one bucket."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
    }
    client = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=BUCKET)
    try:
        yield env, client
    finally:
        server.stop()


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.mark.slow
def test_stage_runs_in_the_pod_clone_and_its_outputs_come_back(tmp_path, prefect_server, s3_remote):
    s3_env, s3 = s3_remote
    with mlflow_server(tmp_path / "mlflow", dict(os.environ)) as server:
        _run_remote_stage(tmp_path, prefect_server, s3_env, s3, server)


def _run_remote_stage(tmp_path, prefect_server, s3_env, s3, server) -> None:  # noqa: ANN001
    parent, pod = tmp_path / "parent", tmp_path / "pod"
    parent.mkdir()
    copy_repo(parent)
    base = {
        **os.environ,
        **prefect_server,
        **s3_env,
        "MLFLOW_TRACKING_URI": server.uri,  # a server: a pod's own disk is refused
        "HF_HUB_OFFLINE": "1",
        "PREFECT_WORKER_QUERY_SECONDS": "2",
    }
    # each clone runs its own code (the venv's editable install points at this checkout)
    parent_env = {**base, "PYTHONPATH": f"{parent / 'src'}:{parent}"}
    pod_env = {**base, "PYTHONPATH": f"{pod / 'src'}:{pod}", "REALIGN_REPO": str(pod)}
    for cmd in (
        ["git", "init", "-q"],
        ["git", "config", "user.email", "ci@example.invalid"],
        ["git", "config", "user.name", "ci"],
        ["realign", "demo-data", "--out", "data"],
        ["dvc", "commit", "-f", "-q", "data.dvc"],
        ["git", "add", "-A"],
        ["git", "commit", "-qm", "parent"],
    ):
        sh(parent, *cmd, env=parent_env)
    sh(tmp_path, "git", "clone", "-q", str(parent), str(pod), env=pod_env)
    (parent / "NOTES.md").write_text("a commit the pod has not seen\n")
    sh(parent, "git", "add", "NOTES.md", env=parent_env)
    sh(parent, "git", "commit", "-qm", "after the pod's clone", env=parent_env)
    set_param(parent, "pipeline.dvc_remote", f"s3://{BUCKET}/dvc")
    set_param(parent, "pipeline.stage_deployments", {"ingest": DEPLOYMENT})

    sh(pod, "prefect", "work-pool", "create", "gpu-24gb", "--type", "process", env=pod_env)
    sh(pod, "prefect", "--no-prompt", "deploy", "--prefect-file", "deploy/prefect-cluster.yaml",
        "-n", "gpu-24gb", env=pod_env)  # fmt: skip
    run = (
        "import json; from flows.pipeline import realign_pipeline; "
        "rows = realign_pipeline(stages=('ingest',)); "
        "print('ROWS=' + json.dumps([{k: r[k] for k in ('stage', 'status')} for r in rows]))"
    )
    with prefect_worker("gpu-24gb", pod, pod_env, tmp_path / "worker.log"):
        try:
            out = sh(parent, sys.executable, "-c", run, env=parent_env, timeout=900)
        except AssertionError:
            print((tmp_path / "worker.log").read_text()[-8000:])
            raise

    rows = json.loads(next(line[5:] for line in out.splitlines() if line.startswith("ROWS=")))
    assert rows == [{"stage": "ingest", "status": f"ran on {DEPLOYMENT}"}]
    # the pod ran the parent's commit and params, and kept the remote's copy of its outputs
    head = sh(parent, "git", "rev-parse", "HEAD").strip()
    assert sh(pod, "git", "rev-parse", "HEAD").strip() == head
    assert (pod / "params.yaml").read_bytes() == (parent / "params.yaml").read_bytes()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    results = [k for k in keys if k.startswith("dvc/prefect-results/")]  # the stage's result
    assert results and all(k.startswith("dvc/files/md5/") for k in keys if k not in results)
    # the outputs arrived byte for byte, with the same dvc.lock entry, and nothing is stale
    manifests = _files(pod / "artifacts" / "manifests")
    assert manifests and _files(parent / "artifacts" / "manifests") == manifests
    metrics = "metrics/ingest.json"
    assert (parent / metrics).read_bytes() == (pod / metrics).read_bytes()
    lock = {
        side: yaml.safe_load((side / "dvc.lock").read_text())["stages"]["ingest"]
        for side in (parent, pod)
    }
    assert lock[parent] == lock[pod]
    status = sh(parent, "dvc", "status", "--json", "--with-deps", "ingest", env=parent_env)
    assert json.loads(status.strip().splitlines()[-1]) == {}, status
    # the pod's MLflow run is nested under the parent flow's run
    from mlflow.tracking import MlflowClient

    client = MlflowClient(base["MLFLOW_TRACKING_URI"])
    runs = client.search_runs([client.get_experiment_by_name("realign").experiment_id])
    by_stage = {r.data.tags.get("realign.stage"): r for r in runs}
    assert by_stage["ingest"].data.tags["mlflow.parentRunId"] == by_stage["pipeline"].info.run_id
