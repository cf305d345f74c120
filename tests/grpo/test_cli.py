"""`realign grpo` from the command line: one-line errors in-process, and the accelerate entry."""

from __future__ import annotations

import json
import os
import shutil
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
def test_accelerate_launch_single_process_cpu(tmp_path: Path, grpo_data, tiny_vlm: Path) -> None:
    root, train, val = grpo_data
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    assert accelerate, "accelerate's launcher is installed with the project"
    args = _grpo_args(root, train, val, tiny_vlm, tmp_path) + [
        "--set", "grpo.max_steps=2",
        "--set", "grpo.cold_start.enabled=false",
        "--set", "grpo.max_train_images=8",
        "--set", "grpo.eval.max_images=4",
        "--set", "grpo.eval.baseline=false",
    ]  # fmt: skip
    cmd = [accelerate, "launch", "--config_file", str(REPO_ROOT / "deploy/accelerate/cpu.yaml")]
    proc = subprocess.run(
        [*cmd, "-m", "realign_pipeline.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)  # stdout holds only the result JSON
    assert result["stage"] == "grpo" and result["metrics"]["train_steps"] == 2
    assert (tmp_path / "aigi_r1" / "model.safetensors").is_file()
    assert "eval_format_rate" in json.loads((tmp_path / "grpo.json").read_text())
