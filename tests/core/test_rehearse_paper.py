"""The paper rehearsal: the shipped 7B config, and (slow) one step of each GPU stage on CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
QWEN_DIR = ROOT / "src" / "realign_pipeline" / "model_configs" / "qwen2_5_vl_7b_instruct"


def test_shipped_config_is_the_7b_architecture() -> None:
    from transformers import Qwen2_5_VLConfig

    config = Qwen2_5_VLConfig(**json.loads((QWEN_DIR / "config.json").read_text()))
    text, vision = config.text_config, config.vision_config
    assert (text.vocab_size, text.hidden_size, text.num_hidden_layers) == (152064, 3584, 28)
    assert (text.num_attention_heads, text.num_key_value_heads) == (28, 4)
    assert (vision.depth, vision.hidden_size, vision.out_hidden_size) == (32, 1280, 3584)
    assert vision.fullatt_block_indexes == [7, 15, 23, 31]
    pre = json.loads((QWEN_DIR / "preprocessor_config.json").read_text())
    assert (pre["patch_size"], pre["merge_size"]) == (vision.patch_size, vision.spatial_merge_size)


@pytest.mark.slow
def test_rehearsal_runs_every_gpu_stage_on_cpu() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "rehearse_paper.py")],
        capture_output=True, text=True, timeout=1800, check=False, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    stages = {r["stage"]: r for r in json.loads(done.stdout.strip().splitlines()[-1])}
    grpo = stages["grpo"]
    if grpo["status"] == "ran":  # enough MemAvailable: one real GRPO step through run_grpo
        assert grpo["train_steps"] == 1, grpo
    else:
        assert grpo["status"] == "validated only" and "MemAvailable" in grpo["cut"], grpo
    assert stages["sample"]["status"] == "ran", stages["sample"]
    assert stages["align"]["status"] == "ran", stages["align"]
    assert (stages["sample"]["vocab_size"], stages["sample"]["hidden_size"]) == (152064, 3584)
    assert stages["sample"]["image_tokens_per_448px_image"] == 256
    assert 0.0 <= stages["align"]["p_fake"] <= 1.0
    for name, budget in (("grpo", 80), ("sample", 80), ("align", 24)):
        memory = stages[name]["gpu_memory"]
        assert memory["budget_gb"] == budget, memory
        assert memory["gpu_gb"] > 0, memory
    grpo_memory = stages["grpo"]["gpu_memory"]
    assert grpo_memory["activations_gb"] > 0 and grpo_memory["states_gb"] > 0, grpo_memory
    assert all(v > 0 for v in grpo_memory["measured_bytes_per_token"].values()), grpo_memory
    assert stages["align"]["gpu_memory"]["activation_mb_per_sample"] > 0
