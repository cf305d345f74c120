"""`realign sample` in-process, and a real SIGKILL of a sampling subprocess followed by resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from realign_pipeline.cli import main

REPO_ROOT = Path(__file__).resolve().parents[2]
PARAMS = REPO_ROOT / "params.yaml"
SMALL = [
    *("-s", "tracking.enabled=false"),
    *("-s", "sample.batch_size=4"),
    *("-s", "sample.max_new_tokens=8"),
]


def _args(data, tmp_path: Path, model: Path, out: str, *extra: str) -> list[str]:
    root, manifest = data
    return [
        "sample", "--manifest", str(manifest), "--data-root", str(root), "--model", str(model),
        "--out", str(tmp_path / out), "--metrics", str(tmp_path / f"{out}.json"),
        "--params", str(PARAMS), *extra,
    ]  # fmt: skip


def test_cli_samples_with_the_tiny_model(synthetic_data, tmp_path, tiny_vlm, capsys) -> None:
    assert main(_args(synthetic_data, tmp_path, tiny_vlm, "reasoning", *SMALL)) == 0
    result = json.loads(capsys.readouterr().out)
    table = pd.read_parquet(tmp_path / "reasoning" / "samples.parquet")
    assert len(table) == result["counts"]["generated"] == 8 * 3 * 2
    assert (table["model_id"] == str(tiny_vlm)).all()
    assert (table["n_tokens"] <= 8).all() and table["raw_text"].notna().all()
    metrics = json.loads((tmp_path / "reasoning.json").read_text())
    assert set(metrics) == {"accuracy", "format_rate", "answer_rate", "generated", "rejected"}


def test_cli_captions_use_the_caption_model(synthetic_data, tmp_path, tiny_vlm) -> None:
    root, manifest = synthetic_data
    args = [
        "sample", "--task", "caption", "--manifest", str(manifest), "--data-root", str(root),
        "--out", str(tmp_path / "captions"), "--metrics", str(tmp_path / "caption.json"),
        "--params", str(PARAMS), "-s", "tracking.enabled=false", "-s", f"caption.model={tiny_vlm}",
        "-s", "caption.max_new_tokens=6",
    ]  # fmt: skip
    assert main(args) == 0
    table = pd.read_parquet(tmp_path / "captions" / "captions.parquet")
    assert len(table) == 8 and table["answer"].isna().all()
    assert (table["model_id"] == str(tiny_vlm)).all()


def test_cli_rejects_a_bad_shard_in_one_line(synthetic_data, tmp_path, tiny_vlm, capsys) -> None:
    args = _args(synthetic_data, tmp_path, tiny_vlm, "x", "--shard", "2/2", *SMALL)
    assert main(args) == 2
    assert "--shard '2/2'" in capsys.readouterr().err


def _sample_command(data, tmp_path: Path, model: Path, out: str) -> list[str]:
    # one prompt per batch: 24 shard files, so the kill lands mid-run
    slow = ["-s", "sample.batch_size=1", "-s", "sample.max_new_tokens=16", "-s", "sample.seeds=[0]"]
    args = _args(data, tmp_path, model, out, "-s", "tracking.enabled=false", *slow)
    return [sys.executable, "-m", "realign_pipeline.cli", *args]


def _env() -> dict[str, str]:
    # one thread everywhere, so the three processes compute bit-identical logits
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TQDM_DISABLE": "1"}


def test_sigkill_mid_run_then_resume_matches_an_uninterrupted_run(
    synthetic_data, tmp_path, tiny_vlm
) -> None:
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        _sample_command(synthetic_data, tmp_path, tiny_vlm, "killed"),
        env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    try:
        while not list((out / "shards").glob("part-*.parquet")):
            assert proc.poll() is None, "sampling ended before writing a shard"
            assert time.monotonic() < deadline, "no shard file after 120 s"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    written = len(list((out / "shards").glob("part-*.parquet")))
    assert not (out / "samples.parquet").exists() and 0 < written < 24

    resume = subprocess.run(
        _sample_command(synthetic_data, tmp_path, tiny_vlm, "killed"),
        env=_env(), capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert json.loads(resume.stdout)["counts"]["generated_now"] == 24 - written
    subprocess.run(
        _sample_command(synthetic_data, tmp_path, tiny_vlm, "whole"),
        env=_env(), capture_output=True, check=True,
    )  # fmt: skip
    resumed = pd.read_parquet(out / "samples.parquet")
    assert not resumed.duplicated(["image_id", "question_id", "seed", "temperature"]).any()
    pd.testing.assert_frame_equal(resumed, pd.read_parquet(tmp_path / "whole" / "samples.parquet"))


def test_cli_writes_progress_for_the_orchestrator(
    synthetic_data, tmp_path, tiny_vlm, monkeypatch
) -> None:
    progress = tmp_path / "progress.json"
    monkeypatch.setenv("REALIGN_PROGRESS_FILE", str(progress))
    assert (
        main(_args(synthetic_data, tmp_path, tiny_vlm, "p", *SMALL, "-s", "sample.seeds=[0]")) == 0
    )
    assert json.loads(progress.read_text()) == {"done": 24, "total": 24}
