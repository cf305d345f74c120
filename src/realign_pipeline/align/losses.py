"""ReAlign's training loss: symmetric CLIP contrastive + alpha x BCE (docs/paper.md, step 4).

L = w_c * L_contrastive + w_b * L_BCE, with L_contrastive = (CE(image->text) + CE(text->image)) / 2
over the batch's similarity matrix scaled by CLIP's learned logit scale (the same value open_clip's
`ClipLoss` computes), and L_BCE the binary cross-entropy of the head's fake logit. The weights
(w_c, w_b) depend on the strategy and, for `sequential`, on the epoch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from realign_pipeline.config.align import AlignConfig


@dataclass(frozen=True)
class LossWeights:
    """Weights of the two loss terms for one epoch (0 switches a term off)."""

    contrastive: float
    bce: float


@dataclass(frozen=True)
class Losses:
    """The loss terms of one step (the unweighted terms, and the weighted total)."""

    contrastive: torch.Tensor
    bce: torch.Tensor
    total: torch.Tensor


def loss_weights(cfg: AlignConfig, epoch: int) -> LossWeights:
    """Loss weights of `epoch` (0-based) for the configured strategy.

    joint: contrastive + alpha BCE every epoch (paper). sequential: contrastive only for the first
    `sequential_contrastive_epochs`, then alpha BCE only. bce_only: alpha BCE, no text at all.
    """
    if cfg.strategy == "joint":
        return LossWeights(1.0, cfg.bce_weight)
    if cfg.strategy == "sequential":
        if epoch < cfg.sequential_contrastive_epochs:
            return LossWeights(1.0, 0.0)
        return LossWeights(0.0, cfg.bce_weight)
    return LossWeights(0.0, cfg.bce_weight)


def contrastive_loss(
    image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor
) -> torch.Tensor:
    """Symmetric CLIP loss for L2-normalised features[B, D]; pair i is (image i, text i)."""
    logits_per_image = logit_scale * image_features @ text_features.T
    labels = torch.arange(logits_per_image.shape[0], device=logits_per_image.device)
    image_to_text = F.cross_entropy(logits_per_image, labels)
    text_to_image = F.cross_entropy(logits_per_image.T, labels)
    return (image_to_text + text_to_image) / 2


def compute_losses(
    image_embeddings: torch.Tensor,
    text_features: torch.Tensor | None,
    fake_logits: torch.Tensor,
    labels: torch.Tensor,
    logit_scale: torch.Tensor,
    weights: LossWeights,
) -> Losses:
    """Both loss terms and the weighted total for one batch.

    Args:
        image_embeddings: raw image-tower outputs[B, D] (normalised here for the contrastive term).
        text_features: normalised cached text embeddings[B, D], or None when not needed.
        fake_logits: head outputs[B].
        labels: 0 real / 1 fake [B].
        logit_scale: exp of CLIP's learned log scale (a scalar tensor).
        weights: which terms count, and how much.
    """
    zero = fake_logits.new_zeros(())
    if weights.contrastive > 0:
        if text_features is None:
            raise ValueError("contrastive weight > 0 needs text features")
        image_features = F.normalize(image_embeddings.float(), dim=-1)
        contrastive = contrastive_loss(image_features, text_features.float(), logit_scale.float())
    else:
        contrastive = zero
    if weights.bce > 0:
        bce = F.binary_cross_entropy_with_logits(fake_logits.float(), labels.float())
    else:
        bce = zero
    total = weights.contrastive * contrastive + weights.bce * bce
    return Losses(contrastive, bce, total)
