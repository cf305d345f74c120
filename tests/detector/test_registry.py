"""Every detector a tracked align logs is a registered model version; evaluate links it and
moves the `champion` alias to the best primary mAcc; the champion serves over HTTP."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from realign_pipeline.config.tracking import TrackingConfig
from realign_pipeline.tracking import start_stage_run
from realign_pipeline.tracking.registry import (
    CHAMPION,
    MODEL_NAME,
    record_evaluation,
    register_detector,
    tag_run_versions,
)
from tests.reliability.mlflow_server import free_port

ALIGN = {"model_name": "tiny", "text_variant": "full", "finetune": "lora", "lr": 1e-4}


def _train(cfg: TrackingConfig, detector_dir: Path, val_acc: float) -> tuple[str, str]:
    """What a tracked align does: log the pyfunc model and register it."""
    from realign_pipeline.detector.pyfunc import log_detector_model

    with start_stage_run(cfg, "review_import", "tiny") as data_run:
        pass
    with start_stage_run(cfg, "align", "tiny") as tracker:
        uri = log_detector_model(tracker, detector_dir)
        version = register_detector(
            tracker, uri, detector_dir, ALIGN, {"val_acc": val_acc}, {"git_commit": "abc"}
        )
        tag_run_versions(tracker, {"dvc.stage_hash": "feed"})
    assert version is not None
    return version, data_run.run_id


def _evaluate(cfg: TrackingConfig, detector_dir: Path, macc: float) -> tuple[str | None, str]:
    with start_stage_run(cfg, "evaluate", "tiny") as tracker:
        scored = record_evaluation(
            tracker, detector_dir, {"demo.macc": macc, "demo.map": 0.9}, "demo.macc"
        )
    return scored, tracker.run_id


def _variant(tiny_detector_dir: Path, tmp_path: Path, name: str) -> Path:
    """Another detector: the same weights with one more file, so its hash differs."""
    copy = tmp_path / name
    shutil.copytree(tiny_detector_dir, copy)
    (copy / "NOTE.txt").write_text(name)
    return copy


def test_detectors_are_versions_with_lineage_and_champion_follows_primary_macc(
    tiny_detector_dir, tracking_cfg, tmp_path
) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_cfg.uri)
    first, data_run = _train(tracking_cfg, tiny_detector_dir, 0.8)
    version = client.get_model_version(MODEL_NAME, first)
    tags = version.tags
    assert tags["git_commit"] == "abc" and tags["dvc.stage_hash"] == "feed"
    assert tags["data_run_id"] == data_run  # the run that wrote the training pairs
    assert tags["align.text_variant"] == "full" and tags["metric.val_acc"] == "0.8"
    assert "align.finetune=lora" in version.description

    scored, eval_run = _evaluate(tracking_cfg, tiny_detector_dir, 0.7)
    assert scored == first
    run = client.get_run(eval_run)
    assert run.data.tags["realign.model_uri"] == f"models:/{MODEL_NAME}/{first}"
    assert client.get_model_version(MODEL_NAME, first).tags["metric.demo.macc"] == "0.7"
    assert str(client.get_model_version_by_alias(MODEL_NAME, CHAMPION).version) == first

    # (second detector's primary mAcc, who is champion afterwards)
    worse = _variant(tiny_detector_dir, tmp_path, "worse")
    second, _ = _train(tracking_cfg, worse, 0.9)
    _evaluate(tracking_cfg, worse, 0.6)  # lower mAcc: the champion stays
    assert str(client.get_model_version_by_alias(MODEL_NAME, CHAMPION).version) == first
    better = _variant(tiny_detector_dir, tmp_path, "better")
    third, _ = _train(tracking_cfg, better, 0.5)
    _evaluate(tracking_cfg, better, 0.95)  # higher mAcc: the alias moves
    assert str(client.get_model_version_by_alias(MODEL_NAME, CHAMPION).version) == third
    assert len({first, second, third}) == 3


def test_unregistered_detector_is_reported_not_linked(
    tiny_detector_dir, tracking_cfg, caplog
) -> None:
    scored, _ = _evaluate(tracking_cfg, tiny_detector_dir, 0.7)
    assert scored is None
    assert "is not registered as realign-detector" in caplog.text


@pytest.mark.slow
def test_champion_serves_with_mlflow_models_serve(
    tiny_detector_dir, tracking_cfg, synthetic_data, tmp_path
) -> None:
    _train(tracking_cfg, tiny_detector_dir, 0.8)
    _evaluate(tracking_cfg, tiny_detector_dir, 0.7)
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_cfg.uri}
    mlflow_cli = [sys.executable, "-m", "mlflow"]
    cmd = [*mlflow_cli, "models", "serve", "-m", f"models:/{MODEL_NAME}@{CHAMPION}"]
    cmd += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        cmd, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        image = sorted(synthetic_data[0].rglob("*.png"))[0]
        body = json.dumps({"dataframe_split": {"columns": ["path"], "data": [[str(image)]]}})
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=body.encode(),
            headers={"Content-Type": "application/json"},
        )
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(request, timeout=30) as resp:
                    answer = json.load(resp)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(2)
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
        log.close()
    prediction = answer["predictions"][0]
    assert 0.0 <= prediction["p_fake"] <= 1.0 and prediction["label"] in {"real", "fake"}


def test_version_says_its_variant_and_the_params_that_scored_it(
    tiny_detector_dir, tracking_cfg
) -> None:
    from mlflow.tracking import MlflowClient

    from realign_pipeline.detector.pyfunc import log_detector_model
    from realign_pipeline.tracking import create_run

    label = "tiny align.strategy=bce_only"
    parent = create_run(tracking_cfg, f"{label} 1a2b3c4", {"realign.variant": label})
    with start_stage_run(tracking_cfg, "align", "tiny", parent_run_id=parent) as tracker:
        uri = log_detector_model(tracker, tiny_detector_dir)
        version = register_detector(tracker, uri, tiny_detector_dir, ALIGN, {}, {})
    with start_stage_run(tracking_cfg, "evaluate", "tiny", parent_run_id=parent) as tracker:
        evaluate = {"threshold": 0.5, "preprocessing": "model", "batch_size": 16}
        record_evaluation(tracker, tiny_detector_dir, {"demo.macc": 0.7}, "demo.macc", evaluate)
    found = MlflowClient(tracking_cfg.uri).get_model_version(MODEL_NAME, version)
    assert found.description == label and found.tags["realign.variant"] == label
    # what scored it is on the version too; how fast it was scored is not
    assert found.tags["evaluate.threshold"] == "0.5" and "evaluate.batch_size" not in found.tags
