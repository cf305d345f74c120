"""The alignment training loop: AdamW + warmup/decay schedule, per-step losses, per-epoch
validation and checkpoints.

Determinism on CPU: every random choice comes from torch's global generator (seeded once, saved
and restored with each checkpoint) or from `sample_epoch`'s (seed, epoch) generator, and images go
through a fixed (non-random) transform, so the number of DataLoader workers does not change the
result and a resumed run ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from realign_pipeline.align.checkpoint import TrainProgress
from realign_pipeline.align.data import ImageDataset, sample_epoch
from realign_pipeline.align.losses import compute_losses, loss_weights
from realign_pipeline.align.module import ReAlignModel
from realign_pipeline.config.align import AlignConfig
from realign_pipeline.tracking import Tracker

logger = logging.getLogger(__name__)


class LrLambda:
    """Linear warmup, then constant/cosine/linear decay to 0.

    A class, not a closure, so the scheduler's state_dict is plain data (saved as JSON).
    """

    def __init__(self, kind: str, warmup_steps: int, total_steps: int) -> None:
        self.kind = kind
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / (self.warmup_steps + 1)
        if self.kind == "constant":
            return 1.0
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        if self.kind == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        return 1.0 - progress


def ordered_trainable(model: ReAlignModel) -> tuple[list, list]:
    """(decayed, not decayed) named trainable parameters: no weight decay on biases, norms,
    embeddings' 1-d gains and the logit scale (as in open_clip training)."""
    decay, no_decay = [], []
    for name, param in model.trainable_named_parameters():
        (no_decay if param.ndim < 2 or "logit_scale" in name else decay).append((name, param))
    return decay, no_decay


def create_optimizer(
    model: ReAlignModel, cfg: AlignConfig, total_steps: int
) -> tuple[torch.optim.Optimizer, Any, list]:
    """AdamW over the trainable parameters, its LambdaLR schedule, and the parameter order."""
    decay, no_decay = ordered_trainable(model)
    groups = [
        {"params": [p for _, p in decay], "weight_decay": cfg.weight_decay},
        {"params": [p for _, p in no_decay], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW([g for g in groups if g["params"]], lr=cfg.learning_rate)
    schedule = LrLambda(cfg.lr_scheduler_type, cfg.warmup_steps, total_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    return optimizer, scheduler, decay + no_decay


@dataclass
class TrainContext:
    """What one epoch needs besides the model and optimizer."""

    cfg: AlignConfig
    seed: int
    device: torch.device
    images: Any  # align.data.ImageSet (rejected images removed)
    text_embeddings: torch.Tensor | None
    pixels: Callable[[Path], torch.Tensor]  # align.data.ImagePixels
    tracker: Tracker


def create_loader(ctx: TrainContext, epoch: int) -> DataLoader:
    """The epoch's DataLoader: every image once, in the epoch's seeded order, one text each."""
    items = sample_epoch(ctx.images.text_ids, ctx.seed, epoch)
    dataset = ImageDataset(ctx.images.paths, ctx.images.labels, items, ctx.pixels)
    return DataLoader(
        dataset,
        batch_size=ctx.cfg.batch_size,
        shuffle=False,
        num_workers=ctx.cfg.num_workers,
        pin_memory=ctx.device.type == "cuda",
    )


def train_step(
    model: ReAlignModel,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    ctx: TrainContext,
    epoch: int,
) -> dict[str, float]:
    """One optimisation step; returns the step's loss terms and lr."""
    pixels, labels, text_idx = (t.to(ctx.device, non_blocking=True) for t in batch)
    weights = loss_weights(ctx.cfg, epoch)
    texts = None
    if weights.contrastive > 0 and ctx.text_embeddings is not None:
        texts = ctx.text_embeddings[text_idx]
    with torch.autocast(ctx.device.type, dtype=torch.bfloat16, enabled=ctx.cfg.bf16):
        embeddings, logits = model(pixels)
    losses = compute_losses(embeddings, texts, logits, labels, model.logit_scale(), weights)
    optimizer.zero_grad(set_to_none=True)
    losses.total.backward()
    if ctx.cfg.max_grad_norm > 0:
        params = [p for group in optimizer.param_groups for p in group["params"]]
        torch.nn.utils.clip_grad_norm_(params, ctx.cfg.max_grad_norm)
    lr = optimizer.param_groups[0]["lr"]
    optimizer.step()
    model.clamp_logit_scale()
    scheduler.step()
    return {
        "contrastive": float(losses.contrastive.detach()),
        "bce": float(losses.bce.detach()),
        "total": float(losses.total.detach()),
        "lr": float(lr),
        "logit_scale": float(model.logit_scale().detach()),
    }


def run_epoch(
    model: ReAlignModel,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    ctx: TrainContext,
    epoch: int,
    progress: TrainProgress,
) -> None:
    """Train one epoch, appending one loss row per step to `progress` and logging to MLflow."""
    model.train()
    loader = create_loader(ctx, epoch)
    bar = tqdm(
        loader,
        desc=f"align epoch {epoch + 1}/{ctx.cfg.num_train_epochs}",
        unit="step",
        disable=None,
    )
    for batch in bar:
        start = time.perf_counter()
        row = train_step(model, optimizer, scheduler, batch, ctx, epoch)
        elapsed = time.perf_counter() - start
        progress.global_step += 1
        row = {"step": progress.global_step, "epoch": epoch + 1, **row}
        row["images_per_s"] = len(batch[0]) / elapsed if elapsed > 0 else 0.0
        progress.loss_rows.append(row)
        if progress.global_step % ctx.cfg.logging_steps == 0:
            ctx.tracker.log_metrics(
                {f"train/{k}": v for k, v in row.items() if k not in ("step", "epoch")},
                step=progress.global_step,
            )
        bar.set_postfix(loss=f"{row['total']:.4f}")
    progress.epoch = epoch + 1


@torch.no_grad()
def predict_proba(
    model: ReAlignModel,
    dataset: ImageDataset,
    batch_size: int,
    device: torch.device,
    bf16: bool = False,
) -> torch.Tensor:
    """p_fake[N] of the (unmerged) training model over a dataset, in dataset order."""
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    out = []
    for pixels, _, _ in loader:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            _, logits = model(pixels.to(device))
        out.append(torch.sigmoid(logits.float()).cpu())
    model.train()
    return torch.cat(out) if out else torch.zeros(0)


def fit(
    model: ReAlignModel,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    ctx: TrainContext,
    progress: TrainProgress,
    on_epoch_end: Callable[[TrainProgress], None],
    stop_after_epochs: int | None = None,
) -> TrainProgress:
    """Train from `progress.epoch` to `cfg.num_train_epochs` (or stop early after
    `stop_after_epochs` epochs in this call, which simulates a killed run); `on_epoch_end`
    validates and checkpoints."""
    tracker = ctx.tracker or Tracker()
    done_here = 0
    for epoch in range(progress.epoch, ctx.cfg.num_train_epochs):
        if stop_after_epochs is not None and done_here >= stop_after_epochs:
            logger.info("Stopping after %d epoch(s) as asked (resume continues)", done_here)
            break
        run_epoch(model, optimizer, scheduler, ctx, epoch, progress)
        on_epoch_end(progress)
        last = progress.val_history[-1] if progress.val_history else {}
        tracker.log_metrics({f"val/{k}": v for k, v in last.items() if k != "epoch"}, epoch + 1)
        done_here += 1
    return progress
