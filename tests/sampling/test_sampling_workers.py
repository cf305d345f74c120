"""N sampling workers (one `--shard i/N` slice each) then a merge: planning, equality, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from realign_pipeline.errors import ConfigError
from realign_pipeline.sampling.workers import plan_workers

REPO_ROOT = Path(__file__).resolve().parents[2]
KEY = ["image_id", "question_id", "seed", "temperature"]


def test_cpu_auto_is_one_worker_and_n_is_n(sample_cfg) -> None:
    assert plan_workers(sample_cfg.model_copy(update={"num_workers": "auto"}), "sample").count == 1
    plan = plan_workers(sample_cfg.model_copy(update={"num_workers": 2}), "sample")
    assert plan.count == 2 and plan.envs == ({}, {})  # CPU workers: no device pinning


def test_cuda_auto_pins_one_worker_per_gpu(sample_cfg) -> None:
    cfg = sample_cfg.model_copy(update={"num_workers": "auto", "device": "cuda"})
    plan = plan_workers(cfg, "sample", gpus=["0", "1", "2", "3"])
    assert [env["CUDA_VISIBLE_DEVICES"] for env in plan.envs] == ["0", "1", "2", "3"]
    vllm = cfg.vllm.model_copy(update={"tensor_parallel_size": 2})
    tp2 = plan_workers(cfg.model_copy(update={"backend": "vllm", "vllm": vllm}), "sample",
                       gpus=["4", "5", "6", "7"])  # fmt: skip
    assert [env["CUDA_VISIBLE_DEVICES"] for env in tp2.envs] == ["4,5", "6,7"]
    assert plan_workers(cfg, "sample", gpus=["0"]).count == 1


@pytest.mark.parametrize(
    ("update", "match"),
    [
        ({"num_workers": 3, "device": "cuda"}, "sample.num_workers: 3 workers x 1 GPU"),
        ({"num_workers": 2, "device": "cuda:1"}, "sample.device is 'cuda:1'"),
    ],
)
def test_impossible_worker_counts_name_the_key(sample_cfg, update: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        plan_workers(sample_cfg.model_copy(update=update), "sample", gpus=["0", "1"])


def _command(data, tmp_path: Path, model: Path, out: str, workers: int) -> list[str]:
    root, manifest = data
    return [
        sys.executable, "-m", "realign_pipeline.cli", "sample", "--manifest", str(manifest),
        "--data-root", str(root), "--model", str(model), "--out", str(tmp_path / out),
        "--metrics", str(tmp_path / f"{out}.json"), "--params", str(REPO_ROOT / "params.yaml"),
        "-s", "tracking.enabled=false", "-s", "sample.batch_size=1", "-s", "sample.seeds=[0]",
        "-s", "sample.max_new_tokens=12", "-s", f"sample.num_workers={workers}",
    ]  # fmt: skip


def _env() -> dict[str, str]:
    # one thread everywhere, so every process computes bit-identical logits
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TQDM_DISABLE": "1"}


def _worker(launcher: subprocess.Popen, shard: str) -> psutil.Process | None:
    for child in psutil.Process(launcher.pid).children():
        try:
            if shard in child.cmdline():
                return child
        except psutil.NoSuchProcess:
            continue
    return None


def test_two_workers_killed_and_resumed_match_one_process(synthetic_data, tmp_path, tiny_vlm):
    """The launcher runs 2 workers; worker 1 is SIGKILLed mid-run; a rerun completes the table."""
    out = tmp_path / "two"
    launcher = subprocess.Popen(
        _command(synthetic_data, tmp_path, tiny_vlm, "two", 2), env=_env(),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 180
    try:
        while not list((out / "shards").glob("part-001-of-002-*.parquet")):
            assert launcher.poll() is None, "the launcher ended before worker 1 wrote a shard"
            assert time.monotonic() < deadline, "no shard of worker 1 after 180 s"
            time.sleep(0.01)
        worker = _worker(launcher, "1/2")
        assert worker is not None, "worker 1/2 is not a child of the launcher"
        worker.send_signal(signal.SIGKILL)
        launcher.wait(timeout=300)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode == 2  # one-line error: worker 1/2 failed, rerun to resume
    assert not (out / "samples.parquet").exists()
    kept = {p.name for p in (out / "shards").glob("part-*.parquet")}
    done_by_1 = len([name for name in kept if name.startswith("part-001-of-002-")])
    assert 0 < done_by_1 < 12  # 24 single-prompt batches, 12 per worker

    rerun = subprocess.run(
        _command(synthetic_data, tmp_path, tiny_vlm, "two", 2), env=_env(),
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    merged = json.loads(rerun.stdout)  # stdout: the merge's result only (workers': stderr)
    assert merged["counts"]["planned"] == merged["counts"]["generated"] == 24
    after = {p.name for p in (out / "shards").glob("part-*.parquet")}
    assert kept <= after and len(after) == 24  # finished batches kept, only the rest generated
    subprocess.run(
        _command(synthetic_data, tmp_path, tiny_vlm, "one", 1), env=_env(),
        capture_output=True, check=True,
    )  # fmt: skip
    two = pd.read_parquet(out / "samples.parquet")
    assert not two.duplicated(KEY).any()
    pd.testing.assert_frame_equal(two, pd.read_parquet(tmp_path / "one" / "samples.parquet"))
