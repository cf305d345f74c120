"""ReAlign module: which parameters train in each fine-tuning mode, frozen text tower, merged
export equal to the unmerged model."""

from __future__ import annotations

import math

import pytest
import torch

from realign_pipeline.align.losses import LossWeights, compute_losses
from realign_pipeline.align.models import create_clip, create_spec
from realign_pipeline.align.module import ReAlignModel, export_detector
from realign_pipeline.errors import ConfigError


def _model(cfg, **update):
    cfg = cfg.model_copy(update=update)
    bundle = create_clip(cfg.model_name, cfg.pretrained, seed=0)
    torch.manual_seed(0)
    return ReAlignModel(bundle.model, create_spec(bundle, cfg, {}), cfg)


def _backward(model: ReAlignModel) -> None:
    gen = torch.Generator().manual_seed(0)
    pixels = torch.randn(4, 3, 32, 32, generator=gen)
    text = torch.nn.functional.normalize(torch.randn(4, 32, generator=gen), dim=-1)
    embeddings, logits = model(pixels)
    losses = compute_losses(
        embeddings,
        text,
        logits,
        torch.tensor([0, 1, 0, 1]),
        model.logit_scale(),
        LossWeights(1.0, 8.0),
    )
    losses.total.backward()


def _with_grad(model: ReAlignModel) -> set[str]:
    return {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}


def test_lora_mode_gradients_reach_only_lora_head_and_logit_scale(tiny_align_cfg):
    model = _model(tiny_align_cfg, finetune="lora", train_logit_scale=True)
    _backward(model)
    names = _with_grad(model)
    assert any("lora_" in n for n in names)
    assert any(n.startswith("head.") for n in names)
    assert "clip.logit_scale" in names
    stray = [n for n in names if "lora_" not in n and not n.startswith("head.")]
    assert stray == ["clip.logit_scale"]
    trainable = {n for n, _ in model.trainable_named_parameters()}
    assert trainable == {n for n, p in model.named_parameters() if p.requires_grad}
    assert all("lora_" in n or n.startswith("head.") or n == "clip.logit_scale" for n in trainable)


def test_full_mode_trains_whole_image_tower_but_not_text(tiny_align_cfg):
    model = _model(tiny_align_cfg, finetune="full", train_logit_scale=False)
    _backward(model)
    names = _with_grad(model)
    assert "clip.visual.conv1.weight" in names
    assert not any(n.startswith("clip.") and not n.startswith("clip.visual.") for n in names)


def test_frozen_mode_trains_only_the_head(tiny_align_cfg):
    model = _model(tiny_align_cfg, finetune="frozen", train_logit_scale=False)
    _backward(model)
    assert {n.split(".")[0] for n in _with_grad(model)} == {"head"}


def test_text_tower_stays_in_eval_mode(tiny_align_cfg):
    model = _model(tiny_align_cfg)
    model.train()
    assert model.clip.visual.training
    assert model.text_modules()
    assert not any(m.training for m in model.text_modules())


def test_merged_export_matches_unmerged_probabilities(tiny_align_cfg):
    model = _model(tiny_align_cfg, finetune="lora")
    with torch.no_grad():  # make LoRA non-trivial (lora_B starts at zero)
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    model.eval()
    pixels = torch.randn(5, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        unmerged = torch.sigmoid(model(pixels)[1])
    detector = export_detector(model)
    assert not any("lora" in k for k in detector.state_dict())
    torch.testing.assert_close(detector.predict_proba(pixels), unmerged, rtol=1e-5, atol=1e-6)
    with torch.no_grad():  # the training model is untouched by the export
        torch.testing.assert_close(torch.sigmoid(model(pixels)[1]), unmerged)


def test_unknown_lora_target_is_a_config_error(tiny_align_cfg):
    with pytest.raises(ConfigError, match="lora.target_modules"):
        _model(
            tiny_align_cfg,
            finetune="lora",
            lora=tiny_align_cfg.lora.model_copy(update={"target_modules": ["no_such_module"]}),
        )


def _scale_step(cfg, log_scale: float, aligned: bool) -> tuple[float, float]:
    """One `train_step` from log scale `log_scale` with texts equal (aligned) or opposite to the
    image features; returns (gradient of the log scale, log scale after the step)."""
    from realign_pipeline.align.train import TrainContext, create_optimizer, train_step
    from realign_pipeline.tracking import Tracker

    cfg = cfg.model_copy(update={"finetune": "frozen", "train_logit_scale": True})
    model = _model(cfg)
    with torch.no_grad():
        model.clip.logit_scale.fill_(log_scale)
        pixels = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        feats = torch.nn.functional.normalize(model(pixels)[0], dim=-1)
    texts = feats if aligned else -feats
    ctx = TrainContext(cfg, 0, torch.device("cpu"), None, texts, None, Tracker())
    optimizer, scheduler, _ = create_optimizer(model, cfg, total_steps=4)
    batch = (pixels, torch.tensor([0, 1, 0, 1]), torch.arange(4))
    train_step(model, optimizer, scheduler, batch, ctx, epoch=0)
    return float(model.clip.logit_scale.grad), float(model.clip.logit_scale)


def test_logit_scale_trains_down_from_openais_stored_value(tiny_align_cfg):
    # OpenAI's checkpoint stores 4.6052 > ln 100: a clamp inside the forward pass would give it no
    # gradient; clamping the parameter after the step (open_clip) lets it move
    grad, after = _scale_step(tiny_align_cfg, 4.6052, aligned=False)
    assert grad > 0  # mismatched pairs: a lower scale lowers the loss
    assert after < math.log(100.0) - 1e-6


def test_logit_scale_is_clamped_at_ln_100_after_the_step(tiny_align_cfg):
    grad, after = _scale_step(tiny_align_cfg, 4.6052, aligned=True)
    assert grad < 0  # matched pairs push the scale up...
    assert after == pytest.approx(math.log(100.0), rel=1e-6)  # ...but it stops at 100


def test_model_starts_with_the_log_scale_clamped(tiny_align_cfg):
    bundle = create_clip(tiny_align_cfg.model_name, None, seed=0)
    with torch.no_grad():
        bundle.model.logit_scale.fill_(4.6052)
    model = ReAlignModel(bundle.model, create_spec(bundle, tiny_align_cfg, {}), tiny_align_cfg)
    assert float(model.logit_scale()) == pytest.approx(100.0, rel=1e-5)
    assert float(model.clip.logit_scale) < 4.6052  # clamped to ln 100 (in float32)
