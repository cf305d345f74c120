"""`realign grpo` from the command line: one-line errors in-process, and the accelerate entry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from realign_pipeline.cli import main

REPO_ROOT = Path(__file__).resolve().parents[2]


def _grpo_args(root: Path, train: Path, val: Path, model: Path, tmp: Path) -> list[str]:
    return [
        "grpo",
        "--manifest", str(train),
        "--val-manifest", str(val),
        "--data-root", str(root),
        "--model", str(model),
        "--out", str(tmp / "aigi_r1"),
        "--metrics", str(tmp / "grpo.json"),
        "--checkpoints", str(tmp / "ckpt"),
        "--params", str(REPO_ROOT / "params.yaml"),
        "--set", "tracking.enabled=false",
    ]  # fmt: skip


def test_one_class_manifest_is_a_one_line_error(
    tmp_path: Path, grpo_data, tiny_vlm: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, train, val = grpo_data
    only_fake = tmp_path / "fake.parquet"
    pd.read_parquet(train).query("label == 1").to_parquet(only_fake, index=False)
    code = main(_grpo_args(root, only_fake, val, tiny_vlm, tmp_path))
    err = capsys.readouterr().err
    assert code == 2
    assert "needs both real and fake" in err and "Traceback" not in err
    assert not (tmp_path / "aigi_r1").exists()


def test_wrong_data_root_is_a_one_line_error(
    tmp_path: Path, grpo_data, tiny_vlm: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, train, val = grpo_data
    code = main(_grpo_args(tmp_path / "empty", train, val, tiny_vlm, tmp_path))
    assert code == 2
    assert "no usable image" in capsys.readouterr().err


def test_missing_model_folder_is_a_one_line_error(
    tmp_path: Path, grpo_data, capsys: pytest.CaptureFixture[str]
) -> None:
    root, train, val = grpo_data
    code = main(_grpo_args(root, train, val, tmp_path / "no-model", tmp_path))
    assert code == 2
    assert "realign tiny-models" in capsys.readouterr().err


@pytest.mark.slow
def test_two_ranks_under_accelerate_train_and_only_main_writes(
    tmp_path: Path, grpo_data, tiny_vlm: Path
) -> None:
    """`realign grpo` with launcher.num_processes=2 re-executes itself under `accelerate launch`
    (CPU, gloo): both ranks train, one MLflow run, one result, and the model loads."""
    import mlflow

    from realign_pipeline.models import load_vlm

    root, train, val = grpo_data
    db = tmp_path / "mlflow.db"
    args = _grpo_args(root, train, val, tiny_vlm, tmp_path)
    args = args[:-2] + [  # tracking on this time, into a database of its own
        "--set", f"tracking.uri=sqlite:///{db}",
        "--set", f"tracking.artifact_root={tmp_path / 'mlartifacts'}",
        "--set", f"grpo.launcher.config={REPO_ROOT / 'deploy/accelerate/cpu.yaml'}",
        "--set", "grpo.launcher.num_processes=2",
        "--set", "grpo.max_steps=2",
        "--set", "grpo.save_steps=2",
        "--set", "grpo.cold_start.enabled=false",
        "--set", "grpo.max_train_images=8",
        "--set", "grpo.eval.max_images=4",
        "--set", "grpo.eval.baseline=false",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE")}
    proc = subprocess.run(
        [sys.executable, "-m", "realign_pipeline.cli", *args],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
        env={**env, "HF_HUB_OFFLINE": "1", "MLFLOW_TRACKING_URI": f"sqlite:///{db}"},
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "accelerate.commands.launch" in proc.stderr  # the launcher's "starting: ..." line
    result = json.loads(proc.stdout)  # one result JSON: only the main rank prints
    assert result["stage"] == "grpo" and result["metrics"]["train_steps"] == 2
    # both ranks trained: each saved its own RNG state into the shared checkpoint
    (checkpoint,) = Path(result["outputs"]["checkpoints"]).glob("grpo/checkpoint-2")
    ranks = {p.name for p in checkpoint.glob("rng_state_*.pth")}
    assert ranks == {"rng_state_0.pth", "rng_state_1.pth"}
    assert "rank 1: trained and saved" in proc.stderr
    assert "eval_format_rate" in json.loads((tmp_path / "grpo.json").read_text())["grpo"]
    runs = mlflow.MlflowClient(f"sqlite:///{db}").search_runs(
        [e.experiment_id for e in mlflow.MlflowClient(f"sqlite:///{db}").search_experiments()]
    )
    assert [r.info.run_name for r in runs] == ["grpo"]  # only the main rank opened a run
    assert not list(tmp_path.glob(".aigi_r1*"))  # no staging left behind
    model, _ = load_vlm(str(tmp_path / "aigi_r1"), dtype="float32", device="cpu")
    assert model.config.model_type == "qwen2_5_vl"


def test_launcher_with_missing_config_is_a_one_line_error(
    tmp_path: Path, grpo_data, tiny_vlm: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    root, train, val = grpo_data
    args = _grpo_args(root, train, val, tiny_vlm, tmp_path) + [
        "--set", "grpo.launcher.num_processes=2",
        "--set", f"grpo.launcher.config={tmp_path / 'missing.yaml'}",
    ]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "grpo.launcher.config" in err and "missing.yaml" in err
    assert not (tmp_path / "aigi_r1").exists()
