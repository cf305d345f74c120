"""Secrets come from the environment and land nowhere we write: not params, tags, logs or files.

A stage runs with a tracking token, a password inside the tracking URI, MLflow basic-auth
variables and DVC/S3 remote credentials in its environment; none of these strings may appear in
the MLflow run's params or tags, in the captured logs and output, or in any byte the stage wrote
(outputs, metrics, the MLflow store itself). params files cannot hold credentials either.
"""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest
import yaml

from realign_pipeline.config import load_params
from realign_pipeline.errors import ConfigError
from tests.conftest import make_manifest

REPO_ROOT = Path(__file__).resolve().parents[2]
PARAMS = REPO_ROOT / "params.yaml"
SECRETS = {
    "MLFLOW_TRACKING_TOKEN": "tok-7f3a9c-SECRET",
    "MLFLOW_TRACKING_PASSWORD": "pw-51b2-SECRET",
    "AWS_SECRET_ACCESS_KEY": "aws-9e8d-SECRET",
    "AZURE_STORAGE_KEY": "az-44c1-SECRET",
    "GDRIVE_CREDENTIALS_DATA": '{"refresh_token": "gd-0a1b-SECRET"}',
}
URI_PASSWORD = "uri-c0ffee-SECRET"
NEEDLES = [*SECRETS.values(), URI_PASSWORD, "gd-0a1b-SECRET"]


def test_health_check_moves_uri_credentials_into_a_header(caplog) -> None:
    from realign_pipeline.tracking.tracker import check_reachable
    from tests.reliability.mlflow_server import health_stub

    with health_stub() as (port, seen), caplog.at_level(logging.DEBUG):
        check_reachable(f"http://alice:{URI_PASSWORD}@127.0.0.1:{port}/", timeout_s=5)
    expected = base64.b64encode(f"alice:{URI_PASSWORD}".encode()).decode()
    assert seen == [("/health", f"Basic {expected}")]
    assert URI_PASSWORD not in caplog.text


def test_a_tracked_stage_writes_no_secret_anywhere(tmp_path) -> None:
    from mlflow.tracking import MlflowClient

    from tests.reliability.conftest import cli_env, run_cli
    from tests.reliability.mlflow_server import free_port

    workspace = tmp_path / "ws"
    make_manifest(workspace / "data" / "train" / "gen_a", split="x")  # aigcdetect-like tree
    # a server that is down: the stage says so (redacted) and falls back to the local store
    env = cli_env(
        **SECRETS,
        MLFLOW_TRACKING_URI=f"http://bob:{URI_PASSWORD}@127.0.0.1:{free_port()}",
        MLFLOW_TRACKING_USERNAME="bob",
    )
    args = [
        "ingest", "--params", str(PARAMS), "--debug",
        "--data-root", "data", "--out", "artifacts/manifests", "--metrics", "metrics/ingest.json",
        "-s", "tracking.enabled=true", "-s", "tracking.fallback_to_local=true",
        "-s", "tracking.connect_timeout_s=2", "-s", "ingest.num_workers=1",
        "-s", "ingest.benchmarks=[]",
        "-s", "ingest.train_sources=[{name: t, layout: aigcdetect, path: train}]",
    ]  # fmt: skip
    done = run_cli(workspace, *args, env=env)
    assert done.returncode == 0, done.stderr
    assert "unreachable; logging to sqlite:///mlflow.db" in done.stderr

    client = MlflowClient(f"sqlite:///{workspace / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("realign").experiment_id])
    assert len(runs) == 1
    logged = yaml.safe_dump({"params": runs[0].data.params, "tags": runs[0].data.tags})
    assert "ingest.val_fraction" in logged  # the params really were logged
    texts = {"logged params/tags": logged, "stdout": done.stdout, "stderr (debug)": done.stderr}
    for where, text in texts.items():
        assert not [s for s in NEEDLES if s in text], where
    for path in workspace.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not [s for s in NEEDLES if s.encode() in data], path


def _credential_findings(node: object, where: str) -> list[str]:
    """Keys that look like secrets, and strings that are URIs with user:password@."""
    from realign_pipeline.tracking.tracker import SECRET_KEY, redact_uri

    if isinstance(node, dict):
        found = [f"{where}.{k}: secret-like key" for k in node if SECRET_KEY.search(str(k))]
        return found + [f for k, v in node.items() for f in _credential_findings(v, f"{where}.{k}")]
    if isinstance(node, list):
        return [f for v in node for f in _credential_findings(v, where)]
    if isinstance(node, str) and redact_uri(node) != node:
        return [f"{where}: URI with credentials"]
    return []


def test_params_files_hold_no_credentials() -> None:
    for preset in (PARAMS, REPO_ROOT / "presets" / "paper.yaml"):
        params = load_params(preset).model_dump(mode="json")
        assert _credential_findings(params, preset.name) == []
    # the check itself sees both kinds of leak
    leak = {"a": {"api_token": "x"}}
    assert _credential_findings(leak, "t") == ["t.a.api_token: secret-like key"]
    assert _credential_findings({"u": "http://u:p@h"}, "t") == ["t.u: URI with credentials"]


def test_secret_filter_drops_credentials_but_logs_token_counts() -> None:
    from realign_pipeline.tracking import flatten_params

    params = {
        "sample": {"max_new_tokens": 48, "api_token": "x", "hf_token": "y"},
        "remote": {"aws_secret_access_key": "z", "password": "p", "tokenizer": "bpe"},
    }
    assert flatten_params(params) == {"sample.max_new_tokens": "48", "remote.tokenizer": "bpe"}


def test_tracking_uri_with_credentials_is_refused_without_echoing_them() -> None:
    with pytest.raises(ConfigError) as err:
        load_params(PARAMS, [f"tracking.uri=https://carol:{URI_PASSWORD}@mlflow.example:443"])
    message = str(err.value)
    assert "tracking.uri" in message and "MLFLOW_TRACKING_URI" in message
    assert URI_PASSWORD not in message and "carol" not in message


def test_dvc_remote_credentials_stay_out_of_the_repository() -> None:
    """DVC remote secrets belong in `.dvc/config.local` (git-ignored) or the environment."""
    import configparser
    import subprocess

    config = configparser.ConfigParser()
    config.read(REPO_ROOT / ".dvc" / "config", encoding="utf-8")
    secret_options = {"user", "password", "ask_password", "key", "sas_token", "connection_string"}
    assert config.sections()  # the file was parsed
    for section in config.sections():
        values = dict(config.items(section))
        assert _credential_findings(values, section) == [], section
        assert not secret_options & set(values), section
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", ".dvc/config.local"], cwd=REPO_ROOT, check=False
    )
    assert ignored.returncode == 0, ".dvc/config.local must be git-ignored"
