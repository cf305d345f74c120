"""run_align end to end on the tiny preset: outputs, resume equality, every variant, bad images."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from realign_pipeline.align import run_align
from realign_pipeline.detector import WEIGHTS_FILE, load_detector
from realign_pipeline.errors import InputError
from realign_pipeline.headline import align_headline


def _run(inputs, cfg, tmp: Path, **kwargs):
    return run_align(
        inputs["pairs"],
        inputs["data_root"],
        tmp / "detector",
        cfg,
        seed=0,
        ckpt_dir=tmp / "ckpt",
        report_dir=tmp / "report",
        metrics_path=tmp / "metrics.json",
        **kwargs,
    )


def test_run_align_writes_detector_metrics_and_loss_curve(align_inputs, tiny_align_cfg, tmp_path):
    result = _run(align_inputs, tiny_align_cfg, tmp_path, val_manifest=align_inputs["val"])
    assert result.extra["complete"]
    assert result.counts["images"] == 8 and result.counts["texts"] == 16
    detector = load_detector(tmp_path / "detector")
    assert detector.spec.architecture == "realign-tiny-vit"
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert result.metrics["epochs"] == 2 and result.metrics["steps"] == 4  # 8 images / 4 x 2
    assert metrics == align_headline(result.metrics)  # the headline only: no timings
    assert 0.0 <= metrics["val_acc"] <= 1.0 and "train_time_s" not in metrics
    loss = pd.read_csv(tmp_path / "report" / "loss.csv")
    assert list(loss.columns[:6]) == ["step", "epoch", "contrastive", "bce", "total", "lr"]
    assert len(loss) == 4 and (loss["contrastive"] > 0).all()
    assert len(pd.read_csv(tmp_path / "report" / "val.csv")) == 2
    # a rerun finds the finished checkpoint and the cached texts: nothing is recomputed
    again = _run(align_inputs, tiny_align_cfg, tmp_path, val_manifest=align_inputs["val"])
    assert again.counts["texts_encoded"] == 0
    assert again.metrics["steps"] == 4


def test_resume_ends_with_same_weights_as_uninterrupted_run(align_inputs, tiny_align_cfg, tmp_path):
    cfg = tiny_align_cfg
    _run(align_inputs, cfg, tmp_path / "straight")
    first = _run(align_inputs, cfg, tmp_path / "killed", stop_after_epochs=1)
    assert not first.extra["complete"]
    assert not (tmp_path / "killed" / "detector").exists()
    _run(align_inputs, cfg, tmp_path / "killed")
    a = load_file(str(tmp_path / "straight" / "detector" / WEIGHTS_FILE))
    b = load_file(str(tmp_path / "killed" / "detector" / WEIGHTS_FILE))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # DataLoader workers change nothing (fixed transform, seeded epoch order), and neither does
    # decoding every epoch instead of keeping the decoded pixels
    for name, update in (("workers", {"num_workers": 1}), ("nocache", {"image_cache_mb": 0})):
        _run(align_inputs, cfg.model_copy(update=update), tmp_path / name)
        c = load_file(str(tmp_path / name / "detector" / WEIGHTS_FILE))
        assert all(torch.equal(a[key], c[key]) for key in a), name
    # the curve has no timing column: a resumed run writes the same bytes
    loss_a = (tmp_path / "straight" / "report" / "loss.csv").read_bytes()
    assert loss_a == (tmp_path / "killed" / "report" / "loss.csv").read_bytes()


@pytest.mark.parametrize(
    "update",
    [
        {"text_variant": "reasoning_only"},
        {"text_variant": "label_caption"},
        {"text_variant": "caption_only"},
        {"text_variant": "label_only"},
        {"strategy": "sequential", "num_train_epochs": 2, "sequential_contrastive_epochs": 1},
        {"strategy": "bce_only", "finetune": "frozen"},
        {"strategy": "bce_only", "finetune": "lora"},
        {"finetune": "lora"},  # the paper's setting (the tiny preset trains the full tower)
        {"bf16": True, "gradient_checkpointing": True},  # the GPU switches also run on CPU
    ],
    ids=lambda u: "-".join(str(v) for v in u.values()),
)
def test_each_variant_trains_and_exports(align_inputs, tiny_align_cfg, tmp_path, update):
    cfg = tiny_align_cfg.model_copy(update={"num_train_epochs": 1, **update})
    result = _run(align_inputs, cfg, tmp_path)
    assert result.extra["complete"]
    loss = pd.read_csv(tmp_path / "report" / "loss.csv")
    assert loss["total"].notna().all()
    if cfg.strategy == "bce_only":
        assert (loss["contrastive"] == 0).all() and result.counts["texts"] == 0
    pixels = torch.randn(2, 3, 32, 32)
    assert load_detector(tmp_path / "detector").predict_proba(pixels).shape == (2,)


def test_undecodable_image_is_recorded_and_skipped(align_inputs, tiny_align_cfg, tmp_path):
    pairs = pd.read_parquet(align_inputs["pairs"])
    (align_inputs["data_root"] / pairs.loc[0, "path"]).write_bytes(b"broken")
    cfg = tiny_align_cfg.model_copy(update={"num_train_epochs": 1})
    result = _run(align_inputs, cfg, tmp_path)
    assert result.counts["rejected"] == 1 and result.counts["images"] == 7
    rejected = pd.read_parquet(tmp_path / "report" / "rejected.parquet")
    assert rejected[["image_id", "path", "reason"]].values.tolist() == [
        [pairs.loc[0, "image_id"], pairs.loc[0, "path"], "not_an_image"]  # path as in the table
    ]


def test_path_escaping_data_root_is_refused(align_inputs, tiny_align_cfg, tmp_path):
    pairs = pd.read_parquet(align_inputs["pairs"])
    pairs.loc[0, "path"] = "../../etc/passwd"
    pairs.to_parquet(align_inputs["pairs"], index=False)
    with pytest.raises(InputError):
        _run(align_inputs, tiny_align_cfg, tmp_path)
