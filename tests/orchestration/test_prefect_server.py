"""Real Prefect server: deploy from deploy/prefect.yaml, run from the 'UI' (CLI), resume via API.

Starts `prefect server start` on 127.0.0.1 (free port, temporary PREFECT_HOME), creates a process
work pool, deploys every deployment of deploy/prefect.yaml (`--all`: no Kubernetes pool needed),
starts a worker, triggers a run with `prefect deployment run` as a user would, waits for the
human-review suspension, resumes it through the API with the form's input, and waits for
Completed.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.orchestration.conftest import make_toy_workspace

STAGES = ["ingest", "review_export", "review_import", "align"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_http(url: str, timeout_s: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise TimeoutError(url)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def prefect_server(tmp_path: Path):
    port = _free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_UI_ENABLED": "false",
    }
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        ["prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port), "--no-ui"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/api/health", 120, proc)
        yield env
    finally:
        _stop(proc)
        log.close()


@contextmanager
def prefect_worker(pool: str, cwd: Path, env: dict, log: Path) -> Iterator[None]:
    """A `prefect worker` of `pool` (one run at a time) in `cwd` while the block runs."""
    with open(log, "w") as out:
        worker = subprocess.Popen(
            ["prefect", "worker", "start", "--pool", pool, "--limit", "1"],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield
        finally:
            _stop(worker)


def _state(env: dict, flow_run_id: str) -> str:
    url = f"{env['PREFECT_API_URL']}/flow_runs/{flow_run_id}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)["state"]["name"]


def _wait_state(env: dict, flow_run_id: str, names: set[str], timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    state = ""
    while time.monotonic() < deadline:
        state = _state(env, flow_run_id)
        if state in names:
            return state
        if state in {"Failed", "Crashed", "Cancelled"}:
            raise AssertionError(f"flow run ended {state}")
        time.sleep(2)
    raise TimeoutError(f"flow run still {state!r}, wanted {names}")


def test_deployment_runs_from_cli_and_resumes_through_api(tmp_path, prefect_server, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    ws = make_toy_workspace(tmp_path / "ws")
    env = {**prefect_server, "REALIGN_REPO": str(ws)}
    run = lambda *cmd: subprocess.run(  # noqa: E731
        cmd, cwd=ws, env=env, check=True, capture_output=True, text=True, timeout=300
    )
    run("prefect", "work-pool", "create", "local", "--type", "process")
    # every deployment of deploy/prefect.yaml, as the README says, on a machine whose only pool
    # is the local one (the Kubernetes pools' deployments are in deploy/prefect-cluster.yaml)
    run("prefect", "--no-prompt", "deploy", "--all", "--prefect-file", "deploy/prefect.yaml")
    for name in ("realign-pipeline/local", "realign-pipeline/cluster"):
        run("prefect", "deployment", "inspect", name)  # fails when it is not there
    with prefect_worker("local", ws, env, tmp_path / "worker.log"):
        params = json.dumps({"stages": STAGES, "review_mode": "human"})
        out = run(
            "prefect", "deployment", "run", "realign-pipeline/local", "--params", params
        ).stdout
        flow_run_id = next(
            line.split(":", 1)[1].strip() for line in out.splitlines() if "UUID" in line
        )
        _wait_state(env, flow_run_id, {"Suspended"}, 240)
        assert (ws / "artifacts" / "review_export").is_dir()
        assert not (ws / "artifacts" / "review_import").exists()
        resume = (
            "from prefect.flow_runs import resume_flow_run; import sys; "
            "resume_flow_run(sys.argv[1], run_input={'export_path': '', 'use_auto_policy': True})"
        )
        run("python", "-c", resume, flow_run_id)
        _wait_state(env, flow_run_id, {"Completed"}, 300)
        assert (ws / "artifacts" / "align" / "run_id.txt").is_file()
