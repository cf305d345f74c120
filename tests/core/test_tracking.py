"""Tracking: explicit run ids, nested runs, secrets never logged, unreachable servers."""

from __future__ import annotations

from pathlib import Path

import pytest

from realign_pipeline.tracking import (
    Tracker,
    create_run,
    end_run,
    flatten_params,
    redact_uri,
    start_stage_run,
)
from tests.reliability.mlflow_server import free_port, health_stub

REPO = Path(__file__).resolve().parents[2]


def test_stage_run_logs_params_metrics_tags_and_nests(tracking_cfg) -> None:
    from mlflow.tracking import MlflowClient

    cfg = tracking_cfg
    parent = create_run(cfg, "pipeline", {"kind": "flow"})
    params = {"align": {"learning_rate": 1e-4, "api_token": "s3cret"}, "seed": 0}
    with start_stage_run(cfg, "align", "tiny", params, parent_run_id=parent) as tracker:
        tracker.log_metrics({"loss": 0.5, "nan": float("nan")}, step=3)
        run_id = tracker.run_id
    end_run(cfg, parent)
    client = MlflowClient(cfg.uri)
    run = client.get_run(run_id)
    assert run.data.params == {
        "align.learning_rate": "0.0001",
        "seed": "0",
    }  # the token never lands
    assert run.data.metrics == {"loss": 0.5}
    assert run.data.tags["mlflow.parentRunId"] == parent
    assert run.data.tags["realign.stage"] == "align"
    assert run.data.tags["realign.preset"] == "tiny"
    assert run.info.status == "FINISHED"
    assert client.get_run(parent).info.status == "FINISHED"


def test_failed_stage_marks_run_failed(tracking_cfg) -> None:
    from mlflow.tracking import MlflowClient

    cfg = tracking_cfg
    with pytest.raises(ValueError), start_stage_run(cfg, "ingest", "tiny") as tracker:
        run_id = tracker.run_id
        raise ValueError("boom")
    assert MlflowClient(cfg.uri).get_run(run_id).info.status == "FAILED"


def test_env_run_id_resumes_existing_run(tracking_cfg, monkeypatch) -> None:
    cfg = tracking_cfg
    run_id = create_run(cfg, "sample", {})
    monkeypatch.setenv("REALIGN_RUN_ID", run_id)
    with start_stage_run(cfg, "sample", "tiny") as tracker:
        assert tracker.run_id == run_id


def test_disabled_tracking_is_a_no_op(tracking_cfg, tmp_path: Path) -> None:
    cfg = tracking_cfg.model_copy(update={"enabled": False})
    with start_stage_run(cfg, "align", "tiny", {"a": 1}) as tracker:
        assert isinstance(tracker, Tracker) and not tracker.enabled
        tracker.log_metrics({"x": 1.0})
    assert not (tmp_path / "mlflow.db").exists()


def test_unreachable_server_falls_back_to_local_when_configured(
    tracking_cfg, tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    cfg = tracking_cfg.model_copy(update={"fallback_to_local": True})
    with start_stage_run(cfg, "align", "tiny") as tracker:
        assert tracker.uri == "sqlite:///mlflow.db"
    assert (tmp_path / "mlflow.db").exists()


def test_flatten_and_redact() -> None:
    assert flatten_params({"a": {"b": [1, 2], "password": "x"}}) == {"a.b": "[1, 2]"}
    assert redact_uri("https://bob:hunter2@mlflow.example/x") == "https://***@mlflow.example/x"


def test_activated_block_leaves_the_run_open_for_its_owner_and_no_uri_behind(
    tracking_cfg,
) -> None:
    import os

    import mlflow
    from mlflow.tracking import MlflowClient

    cfg = tracking_cfg
    with start_stage_run(cfg, "align", "tiny") as tracker:
        with tracker.activated():
            mlflow.log_metric("inside", 1.0)
        assert MlflowClient(cfg.uri).get_run(tracker.run_id).info.status == "RUNNING"
        run_id = tracker.run_id
    run = MlflowClient(cfg.uri).get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.metrics["inside"] == 1.0
    assert "MLFLOW_TRACKING_URI" not in os.environ  # the run's URI does not leak


def test_activated_block_restores_an_outer_uri(tracking_cfg, tmp_path, monkeypatch) -> None:
    import os

    import mlflow

    outer = f"sqlite:///{tmp_path / 'outer.db'}"
    cfg = tracking_cfg
    with start_stage_run(cfg, "align", "tiny") as tracker:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", outer)  # e.g. set by the user's shell
        with tracker.activated():
            assert mlflow.get_tracking_uri() == cfg.uri
    assert os.environ["MLFLOW_TRACKING_URI"] == outer == mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(None)  # leave the process as other tests expect it


def test_one_health_probe_and_one_client_per_uri(tracking_cfg, monkeypatch) -> None:
    """Every helper of one process shares the connection: the server sees one /health."""
    from realign_pipeline.tracking import connect

    with health_stub() as (port, seen):
        uri = f"http://127.0.0.1:{port}"
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        first, second = connect(tracking_cfg), connect(tracking_cfg)
    assert first is second and first.tracking_uri == uri
    assert [path for path, _ in seen] == ["/health"]


def test_variant_params_are_config_keys_under_their_params_yaml_names() -> None:
    """What defines a detector is every align/evaluate field but the runtime ones: a name that
    is not a config field fails here, and the logged names are paths in params.yaml."""
    import yaml

    from realign_pipeline.config import load_params
    from realign_pipeline.config.align import AlignConfig
    from realign_pipeline.config.evaluate import EvaluateConfig
    from realign_pipeline.tracking.registry import RUNTIME_PARAMS, variant_params

    for section, model in (("align", AlignConfig), ("evaluate", EvaluateConfig)):
        assert set(RUNTIME_PARAMS[section]) <= set(model.model_fields), section
    params = load_params(REPO / "params.yaml")
    logged = variant_params({s: getattr(params, s).model_dump(mode="json") for s in RUNTIME_PARAMS})
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    for name in logged:
        node = raw
        for part in name.split("."):
            assert isinstance(node, dict) and part in node, f"{name} is not a params.yaml key"
            node = node[part]
    # the LoRA rank, epochs and learning rate under the config's names (not lora_rank/epochs/lr)
    expected = {"align.lora.r", "align.num_train_epochs", "align.learning_rate", "align.strategy"}
    assert expected | {"evaluate.threshold", "evaluate.preprocessing"} <= set(logged)
    assert "align.device" not in logged and "evaluate.batch_size" not in logged


def test_commit_is_dirty_only_for_changes_that_are_not_pipeline_outputs(tmp_path: Path) -> None:
    import subprocess

    from realign_pipeline.tracking import git_commit

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=tmp_path,
                       check=True, capture_output=True)  # fmt: skip

    (tmp_path / "metrics").mkdir()
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n  s:\n    cmd: x\n    outs: [out]\n    metrics:\n"
        "      - metrics/s.json:\n          cache: false\n"
    )
    for name in ("params.yaml", "dvc.lock", "metrics/s.json"):
        (tmp_path / name).write_text("a: 1\n")
    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "x")
    clean = git_commit(tmp_path)
    # what a run writes: dvc.lock, a git-tracked metrics file, untracked/ignored stores
    for name in ("dvc.lock", "metrics/s.json", "mlflow.db"):
        (tmp_path / name).write_text("b: 2\n")
    assert git_commit(tmp_path) == clean and not clean.endswith("-dirty")
    (tmp_path / "params.yaml").write_text("a: 2\n")  # a real change to the checkout
    assert git_commit(tmp_path) == f"{clean}-dirty"
    assert git_commit(tmp_path.parent) == "unknown"


def test_variant_label_is_the_preset_and_what_differs_from_it() -> None:
    import yaml

    from realign_pipeline.tracking.lifecycle import variant_label

    params = yaml.safe_load((REPO / "params.yaml").read_text())  # the tiny preset, rendered
    assert variant_label(REPO, params) == "tiny"
    params["align"]["strategy"] = "bce_only"
    params["align"]["learning_rate"] = 3e-4
    assert variant_label(REPO, params) == "tiny align.strategy=bce_only align.learning_rate=0.0003"
    assert variant_label(REPO, {**params, "preset": "nope"}) == "nope"  # no such preset file
