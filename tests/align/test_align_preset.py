"""The tiny preset's align section must leave the class prior on a separable set.

Regression test for the tiny detector that never learned the demo data: with LoRA on a random
image tower (its patch embedding and MLPs frozen at random) and 30 steps, training only fitted the
head's bias, so every image got the prior's p_fake and validation predicted one class.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from realign_pipeline.align import run_align
from realign_pipeline.config import load_params

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_tiny_preset_learns_a_separable_set(align_inputs, tmp_path):
    cfg = load_params(REPO_ROOT / "params.yaml").align
    result = run_align(
        align_inputs["pairs"],
        align_inputs["data_root"],
        tmp_path / "detector",
        cfg,
        seed=0,
        val_manifest=align_inputs["val"],
        ckpt_dir=tmp_path / "ckpt",
        report_dir=tmp_path / "report",
        metrics_path=None,
    )
    loss = pd.read_csv(tmp_path / "report" / "loss.csv")
    first, last = (loss[loss["epoch"] == e]["bce"].mean() for e in (1, cfg.num_train_epochs))
    assert last < 0.5 * first  # ln 2 = 0.69 is the prior of this balanced set
    assert result.metrics["val_real_acc"] == 1.0 and result.metrics["val_fake_acc"] == 1.0
