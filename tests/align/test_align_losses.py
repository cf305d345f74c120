"""The ReAlign loss: contrastive term equals open_clip's ClipLoss; strategy weights."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from open_clip.loss import ClipLoss

from realign_pipeline.align.losses import (
    LossWeights,
    compute_losses,
    contrastive_loss,
    loss_weights,
)


@pytest.mark.parametrize("batch", [2, 5, 16])
def test_contrastive_loss_equals_open_clip_clip_loss(batch: int):
    gen = torch.Generator().manual_seed(batch)
    image = F.normalize(torch.randn(batch, 24, generator=gen), dim=-1)
    text = F.normalize(torch.randn(batch, 24, generator=gen), dim=-1)
    scale = torch.tensor(14.3)
    expected = ClipLoss()(image, text, scale)
    torch.testing.assert_close(contrastive_loss(image, text, scale), expected)


def test_compute_losses_normalises_image_embeddings_and_weights_terms():
    gen = torch.Generator().manual_seed(0)
    raw = torch.randn(4, 8, generator=gen) * 5  # raw tower outputs, not unit length
    text = F.normalize(torch.randn(4, 8, generator=gen), dim=-1)
    logits = torch.randn(4, generator=gen)
    labels = torch.tensor([0, 1, 1, 0])
    scale = torch.tensor(10.0)
    losses = compute_losses(raw, text, logits, labels, scale, LossWeights(1.0, 8.0))
    contrastive = ClipLoss()(F.normalize(raw, dim=-1), text, scale)
    bce = F.binary_cross_entropy_with_logits(logits, labels.float())
    torch.testing.assert_close(losses.contrastive, contrastive)
    torch.testing.assert_close(losses.bce, bce)
    torch.testing.assert_close(losses.total, contrastive + 8.0 * bce)


def test_compute_losses_without_contrastive_needs_no_text():
    losses = compute_losses(
        torch.randn(3, 8),
        None,
        torch.zeros(3),
        torch.tensor([0, 1, 0]),
        torch.tensor(1.0),
        LossWeights(0.0, 8.0),
    )
    assert float(losses.contrastive) == 0.0
    torch.testing.assert_close(losses.total, 8.0 * losses.bce)


@pytest.mark.parametrize(
    ("strategy", "epoch", "expected"),
    [
        ("joint", 0, LossWeights(1.0, 8.0)),  # paper: both terms every epoch
        ("joint", 5, LossWeights(1.0, 8.0)),
        ("sequential", 0, LossWeights(1.0, 0.0)),  # contrastive phase
        ("sequential", 1, LossWeights(0.0, 8.0)),  # BCE phase after 1 contrastive epoch
        ("bce_only", 0, LossWeights(0.0, 8.0)),  # no text at all
    ],
)
def test_loss_weights_follow_strategy(tiny_align_cfg, strategy, epoch, expected):
    cfg = tiny_align_cfg.model_copy(
        update={"strategy": strategy, "sequential_contrastive_epochs": 1, "bce_weight": 8.0}
    )
    assert loss_weights(cfg, epoch) == expected
