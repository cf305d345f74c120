"""The MLflow server dies in the middle of a stage.

Documented behaviour (`realign_pipeline.tracking`): the stage stops with one line naming the
server's URI (exit 2), and the outputs it wrote are kept; with `tracking.fallback_to_local=true`
it warns and completes. A server already down at start: the same one-line error, or (fallback)
the run goes to the local sqlite store. Outputs never depend on the tracker.
"""

from __future__ import annotations

import logging

import pytest

from realign_pipeline.tracking import Tracker, TrackingUnavailable, start_stage_run
from tests.reliability.conftest import cli_env, run_cli, snapshot, stage_args
from tests.reliability.mlflow_server import free_port, mlflow_server

OUTPUTS = ["artifacts/manifests", "metrics/ingest.json"]
TRACKED = ["-s", "tracking.enabled=true", "-s", "tracking.connect_timeout_s=5"]


def _env(uri: str) -> dict[str, str]:
    # MLflow retries a failed HTTP call 7 times with backoff (minutes); one try keeps this short
    return cli_env(
        MLFLOW_TRACKING_URI=uri,
        MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
        MLFLOW_HTTP_REQUEST_TIMEOUT="10",
    )


def test_server_killed_mid_ingest_fails_clearly_and_keeps_outputs(
    make_workspace, ingested, tmp_path, fault_log
) -> None:
    workspace = make_workspace("ws")
    with mlflow_server(tmp_path / "server", cli_env()) as server:
        # the run is created on the server, then the server is SIGKILLed while images decode
        kill_server = {"target": "PIL.Image:open", "nth": 5, "pgid": server.pgid}
        done = run_cli(
            workspace, *stage_args("ingest", *TRACKED), kill=kill_server, env=_env(server.uri)
        )
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: MLflow tracking at {server.uri} failed during run"), last
    assert snapshot(workspace, OUTPUTS) == snapshot(ingested, OUTPUTS)
    fault_log("MLflow server killed mid-run", "ingest", "exit 2 naming the URI; outputs kept")

    # the server is still down: without fallback, a clear refusal before any work
    again = run_cli(workspace, *stage_args("ingest", *TRACKED), env=_env(server.uri))
    assert again.returncode == 2
    assert f"MLflow tracking server {server.uri} is unreachable" in again.stderr
    fault_log("MLflow server down at start", "ingest", "exit 2 naming the URI and the fix")

    fallback = [*TRACKED, "-s", "tracking.fallback_to_local=true"]
    local = run_cli(workspace, *stage_args("ingest", *fallback), env=_env(server.uri))
    assert local.returncode == 0, local.stderr
    assert "logging to sqlite:///mlflow.db instead" in local.stderr
    assert snapshot(workspace, OUTPUTS) == snapshot(ingested, OUTPUTS)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{workspace / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("realign").experiment_id])
    assert [r.info.status for r in runs] == ["FINISHED"]
    assert runs[0].data.metrics["accepted"] > 0
    fault_log(
        "MLflow server down at start, fallback_to_local", "ingest", "run logged to local sqlite"
    )


@pytest.mark.slow
def test_server_killed_mid_ingest_with_fallback_completes(
    make_workspace, ingested, tmp_path, fault_log
) -> None:
    workspace = make_workspace("ws")
    fallback = [*TRACKED, "-s", "tracking.fallback_to_local=true"]
    with mlflow_server(tmp_path / "server", cli_env()) as server:
        kill_server = {"target": "PIL.Image:open", "nth": 5, "pgid": server.pgid}
        done = run_cli(
            workspace, *stage_args("ingest", *fallback), kill=kill_server, env=_env(server.uri)
        )
    assert done.returncode == 0, done.stderr
    assert "continuing without tracking" in done.stderr
    assert snapshot(workspace, OUTPUTS) == snapshot(ingested, OUTPUTS)
    fault_log("MLflow server killed mid-run, fallback_to_local", "ingest", "warns, completes")


class _DyingClient:
    """An MlflowClient stand-in whose server goes away after `calls_ok` calls."""

    def __init__(self, calls_ok: int) -> None:
        self.calls_ok = calls_ok
        self.calls: list[str] = []

    def __getattr__(self, name: str):  # noqa: ANN204
        def call(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            from mlflow.exceptions import MlflowException

            self.calls.append(name)
            if len(self.calls) > self.calls_ok:
                raise MlflowException(
                    "API request to http://alice:pw@10.0.0.1:5000/api/2.0/mlflow/runs/log-batch "
                    "failed with exception ConnectionError('Connection refused')"
                )

        return call


def test_tracker_failure_mid_run_raises_redacted_or_falls_back(caplog, fault_log) -> None:
    strict = Tracker(_DyingClient(1), "run1", "http://alice:pw@10.0.0.1:5000")
    strict.log_metrics({"a": 1.0})
    with pytest.raises(TrackingUnavailable) as err:
        strict.log_metrics({"a": 2.0})
    assert "http://***@10.0.0.1:5000" in str(err.value) and "pw" not in str(err.value)
    assert "outputs written so far are kept" in str(err.value)

    client = _DyingClient(1)
    lenient = Tracker(client, "run2", "http://alice:pw@10.0.0.1:5000", fallback=True)
    with caplog.at_level(logging.WARNING, logger="realign_pipeline.tracking"):
        for step in range(5):
            lenient.log_metrics({"a": float(step)}, step=step)
        lenient.log_artifact(__file__)
        with lenient.activated():
            pass
    assert len(client.calls) == 2  # after the failure nothing more is attempted
    assert caplog.text.count("continuing without tracking") == 1
    assert "alice:pw" not in caplog.text
    fault_log("tracking call fails mid-run", "tracking", "TrackingUnavailable, or one warning")


def test_stage_error_is_not_masked_by_a_dead_server(tracking_cfg, monkeypatch) -> None:
    """When the stage fails and closing its run fails too, the stage's own error surfaces."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with pytest.raises(ValueError, match="the stage's own error"):
        with start_stage_run(tracking_cfg, "ingest", "tiny") as tracker:
            tracker.client = _DyingClient(0)
            raise ValueError("the stage's own error")


def test_unreachable_server_names_the_uri_without_credentials(tracking_cfg, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://bob:s3cret@127.0.0.1:{free_port()}")
    with pytest.raises(TrackingUnavailable) as err:
        with start_stage_run(tracking_cfg, "ingest", "tiny"):
            pass
    assert "http://***@127.0.0.1:" in str(err.value) and "s3cret" not in str(err.value)


def test_errors_inside_an_activated_block_pass_through(tracking_cfg) -> None:
    """Fallback covers tracking failures only: a stage error inside `activated()` (e.g. TRL
    training under the MLflow callback) is never swallowed or relabelled."""
    cfg = tracking_cfg.model_copy(update={"fallback_to_local": True})
    with pytest.raises(OSError, match="No space left"):
        with start_stage_run(cfg, "grpo", "tiny") as tracker:
            with tracker.activated():
                raise OSError(28, "No space left on device")
