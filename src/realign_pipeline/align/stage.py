"""The align stage: train ReAlign on the reviewed pairs and export the deployable detector.

Reads:  `artifacts/pairs/pairs.parquet` (review import), `artifacts/manifests/val.parquet`
        (validation accuracy per epoch), images under `--data-root`.
Writes: `artifacts/detector/` (detector.safetensors + detector.json), `metrics/align.json`,
        `artifacts/align/loss.csv` (step, epoch, contrastive, bce, total, lr, logit_scale),
        `artifacts/align/val.csv`, `artifacts/align/rejected.parquet` (images that could not be
        decoded), and checkpoints + the text-embedding cache under `artifacts/align_ckpt/`.
Run:    `realign align` (DVC stage `align`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from realign_pipeline.align.checkpoint import (
    TrainProgress,
    load_checkpoint,
    read_checkpoint_state,
    save_checkpoint,
)
from realign_pipeline.align.data import (
    ImageDataset,
    ImagePixels,
    ImageSet,
    group_pairs,
    read_pairs,
    text_column,
)
from realign_pipeline.align.models import create_clip, create_spec
from realign_pipeline.align.module import ReAlignModel, export_detector
from realign_pipeline.align.text_cache import get_text_embeddings
from realign_pipeline.align.train import TrainContext, create_optimizer, fit, predict_proba
from realign_pipeline.atomic import atomic_write_json, atomic_write_parquet, atomic_write_text
from realign_pipeline.config.align import AlignConfig
from realign_pipeline.cpu_threads import set_cpu_threads
from realign_pipeline.detector.model import save_detector
from realign_pipeline.detector.transform import create_model_transform
from realign_pipeline.errors import ConfigError, InputError
from realign_pipeline.headline import align_headline
from realign_pipeline.manifest import read_manifest
from realign_pipeline.results import StageResult
from realign_pipeline.tracking import Tracker, git_commit

logger = logging.getLogger(__name__)

LOSS_FILE = "loss.csv"
VAL_FILE = "val.csv"
REJECTED_FILE = "rejected.parquet"
TEXT_CACHE_DIR = "text_cache"
# No timing column: loss.csv is a cached output and must not change between identical runs
# (images/s goes to MLflow).
LOSS_COLUMNS = ("step", "epoch", "contrastive", "bce", "total", "lr", "logit_scale")
VAL_COLUMNS = ("epoch", "acc", "real_acc", "fake_acc")


def resolve_device(name: str) -> torch.device:
    """`auto` -> cuda when available, else cpu; `cuda` without a GPU is a config error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("align.device=cuda but no CUDA device is visible; use auto or cpu")
    return torch.device(name)


def _drop_images(images: ImageSet, drop: set[int]) -> ImageSet:
    keep = [i for i in range(len(images.image_ids)) if i not in drop]
    return replace(
        images,
        image_ids=[images.image_ids[i] for i in keep],
        rel_paths=[images.rel_paths[i] for i in keep],
        paths=[images.paths[i] for i in keep],
        labels=[images.labels[i] for i in keep],
        generators=[images.generators[i] for i in keep],
        text_ids=[images.text_ids[i] for i in keep],
    )


def _checked(
    images: ImageSet, split: str, rejected: list[dict[str, str]], pixels: ImagePixels
) -> ImageSet:
    """Decode every image once (into `pixels`); drop undecodable ones, recording each with its
    reason in `rejected`."""
    bad = pixels.check(images.paths, desc=f"decoding {split} images")
    for i, reason in sorted(bad.items()):
        rejected.append(
            {
                "split": split,
                "image_id": images.image_ids[i],
                "path": images.rel_paths[i],
                "reason": reason,
            }
        )
    if bad:
        logger.warning("%d %s image(s) rejected (see %s)", len(bad), split, REJECTED_FILE)
    return _drop_images(images, set(bad))


def _val_images(val_manifest: Path | None, data_root: Path) -> ImageSet | None:
    if val_manifest is None:
        return None
    df = read_manifest(val_manifest).sort_values("image_id").reset_index(drop=True)
    df = df.assign(sample_id=df["image_id"], outcome="accepted")
    return group_pairs(df, data_root, None)


_NOT_IN_FINGERPRINT = {"num_workers", "logging_steps", "image_cache_mb"}  # never change results


def _fingerprint(cfg: AlignConfig, seed: int, model_key: str, train: ImageSet, val: Any) -> str:
    """Identity of a training run: params, weights, images and texts (not paths or workers)."""
    payload = {
        "cfg": cfg.model_dump(mode="json", exclude=_NOT_IN_FINGERPRINT),
        "seed": seed,
        "model_key": model_key,
        "images": train.image_ids,
        "labels": train.labels,
        "texts": hashlib.sha256("\x00".join(train.texts).encode()).hexdigest(),
        "text_ids": train.text_ids,
        "val": val.image_ids if val is not None else None,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _validate(
    model: ReAlignModel, val: ImageSet, pixels: ImagePixels, cfg: AlignConfig, device: torch.device
) -> dict[str, float]:
    items = [(i, -1) for i in range(len(val.image_ids))]
    dataset = ImageDataset(val.paths, val.labels, items, pixels)
    probs = predict_proba(model, dataset, cfg.eval_batch_size, device, cfg.bf16)
    labels = torch.tensor(val.labels)
    correct = ((probs > cfg.threshold).long() == labels).float()
    out = {"acc": float(correct.mean())}
    for value, name in ((0, "real_acc"), (1, "fake_acc")):
        mask = labels == value
        out[name] = float(correct[mask].mean()) if bool(mask.any()) else float("nan")
    return out


def _write_reports(report_dir: Path, progress: TrainProgress, rejected: list[dict]) -> None:
    loss = pd.DataFrame(progress.loss_rows, columns=LOSS_COLUMNS)
    atomic_write_text(report_dir / LOSS_FILE, loss.to_csv(index=False, float_format="%.6g"))
    val = pd.DataFrame(progress.val_history, columns=VAL_COLUMNS)
    atomic_write_text(report_dir / VAL_FILE, val.to_csv(index=False, float_format="%.6g"))
    columns = ["split", "image_id", "path", "reason"]
    atomic_write_parquet(report_dir / REJECTED_FILE, pd.DataFrame(rejected, columns=columns))


def _metrics(progress: TrainProgress, n_steps_epoch: int) -> dict[str, float]:
    last = progress.loss_rows[-n_steps_epoch:] if progress.loss_rows else []
    metrics = {"epochs": float(progress.epoch), "steps": float(progress.global_step)}
    for key in ("contrastive", "bce", "total", "images_per_s"):
        if last:
            metrics[f"train_{key}_last_epoch"] = sum(r[key] for r in last) / len(last)
    for key, value in (progress.val_history[-1] if progress.val_history else {}).items():
        if key != "epoch" and math.isfinite(value):
            metrics[f"val_{key}"] = value
    return metrics


def _prepare_data(
    pairs_path: Path, val_manifest: Path | None, data_root: Path, cfg: AlignConfig
) -> tuple[ImageSet, ImageSet | None, int]:
    """Train images with their texts and validation images (not decoded yet); number of pairs."""
    needs_text = cfg.strategy != "bce_only"
    pairs = read_pairs(pairs_path, cfg.text_variant, needs_text=needs_text)
    column = text_column(cfg.text_variant) if needs_text else None
    train = group_pairs(pairs, data_root, column)
    return train, _val_images(val_manifest, data_root), len(pairs)


def _decode_images(
    train: ImageSet, val: ImageSet | None, pixels: ImagePixels, pairs_path: Path
) -> tuple[ImageSet, ImageSet | None, list[dict[str, str]]]:
    """Decode train and validation images once; drop and record the undecodable ones."""
    rejected: list[dict[str, str]] = []
    train = _checked(train, "train", rejected, pixels)
    if len(train.image_ids) < 2:
        raise InputError(f"pairs table {pairs_path}: fewer than 2 usable images; nothing to train")
    if val is not None:
        val = _checked(val, "val", rejected, pixels)
    logger.info(
        "%d images decoded once and kept in memory (%.1f MB)",
        pixels.cached,
        pixels.cached_bytes / 2**20,
    )
    return train, val, rejected


def run_align(
    pairs_path: Path,
    data_root: Path,
    out_dir: Path,
    cfg: AlignConfig,
    *,
    seed: int,
    val_manifest: Path | None = None,
    ckpt_dir: Path,
    report_dir: Path,
    metrics_path: Path | None,
    tracker: Tracker | None = None,
    resume: bool = True,
    stop_after_epochs: int | None = None,
) -> StageResult:
    """Train ReAlign on `pairs_path` and export the detector to `out_dir`.

    Args:
        pairs_path: pairs.parquet (review import output).
        data_root: root the pairs' and manifest's relative image paths are under.
        out_dir: detector folder to (re)write.
        cfg: the `align` params section.
        seed: the shared seed (weights init, LoRA init, epoch sampling).
        val_manifest: manifest for per-epoch validation accuracy (None: no validation).
        ckpt_dir: checkpoints and text-embedding cache (kept out of the detector folder).
        report_dir: loss.csv, val.csv and rejected.parquet.
        metrics_path: headline metrics JSON (`align_headline`; None: not written).
        tracker: MLflow run to log to.
        resume: continue from a checkpoint of the same run in `ckpt_dir` when there is one.
        stop_after_epochs: train at most this many epochs in this call and skip the export (for
            tests and time-sliced jobs; a later call resumes).
    """
    tracker = tracker or Tracker()
    start_time = time.perf_counter()
    set_cpu_threads(cfg.cpu_threads)
    train, val, n_pairs = _prepare_data(pairs_path, val_manifest, data_root, cfg)
    device = resolve_device(cfg.device)
    bundle = create_clip(cfg.model_name, cfg.pretrained, seed=seed, quick_gelu=cfg.quick_gelu)
    provenance = {
        "pretrained": cfg.pretrained,
        "model_key": bundle.model_key,
        "seed": seed,
        "align": cfg.model_dump(mode="json"),
        "pairs": str(pairs_path),
    }
    spec = create_spec(bundle, cfg, provenance)
    pixels = ImagePixels(create_model_transform(spec), cfg.image_cache_mb * 2**20)
    train, val, rejected = _decode_images(train, val, pixels, pairs_path)
    texts, n_encoded = _text_embeddings(bundle, train, cfg, ckpt_dir, device)
    torch.manual_seed(seed)
    model = ReAlignModel(bundle.model, spec, cfg).to(device)
    steps_per_epoch = math.ceil(len(train.image_ids) / cfg.batch_size)
    optimizer, scheduler, ordered = create_optimizer(
        model, cfg, cfg.num_train_epochs * steps_per_epoch
    )
    fingerprint = _fingerprint(cfg, seed, bundle.model_key, train, val)
    progress = TrainProgress()
    state = read_checkpoint_state(ckpt_dir, fingerprint) if resume else None
    if state is not None:
        progress = load_checkpoint(ckpt_dir, state, model, ordered, optimizer, scheduler)

    def on_epoch_end(p: TrainProgress) -> None:
        if val is not None and val.image_ids:
            scores = _validate(model, val, pixels, cfg, device)
            p.val_history.append({"epoch": p.epoch, **scores})
            logger.info("Epoch %d: val %s", p.epoch, p.val_history[-1])
        save_checkpoint(
            ckpt_dir, model.checkpoint_state(), ordered, optimizer, scheduler, p, fingerprint
        )

    ctx = TrainContext(cfg, seed, device, train, texts, pixels, tracker)
    fit(model, optimizer, scheduler, ctx, progress, on_epoch_end, stop_after_epochs)
    _write_reports(report_dir, progress, rejected)
    counts = {
        "pairs": n_pairs,
        "images": len(train.image_ids),
        "texts": len(train.texts),
        "texts_encoded": n_encoded,
        "rejected": len(rejected),
        "val_images": len(val.image_ids) if val is not None else 0,
    }
    metrics = {
        **_metrics(progress, steps_per_epoch),
        "train_time_s": time.perf_counter() - start_time,
    }
    outputs = {"report_dir": str(report_dir), "checkpoint": str(ckpt_dir)}
    complete = progress.epoch >= cfg.num_train_epochs
    if complete:
        outputs["detector"] = str(_export(model, out_dir, tracker, cfg, metrics))
        if metrics_path is not None:
            atomic_write_json(metrics_path, align_headline(metrics))
    tracker.log_artifact(report_dir / LOSS_FILE, "align")
    tracker.log_artifact(report_dir / VAL_FILE, "align")
    extra = {"complete": complete, "resumed": state is not None}
    return StageResult("align", outputs, counts, metrics, extra)


def _text_embeddings(
    bundle: Any, train: ImageSet, cfg: AlignConfig, ckpt_dir: Path, device: torch.device
) -> tuple[torch.Tensor | None, int]:
    """Cached text embeddings of the train texts on `device` (None for bce_only)."""
    if cfg.strategy == "bce_only":
        return None, 0
    texts, n_encoded = get_text_embeddings(
        bundle.model.to(device),
        bundle.tokenizer,
        train.texts,
        model_key=bundle.model_key,
        cache_dir=ckpt_dir / TEXT_CACHE_DIR,
        batch_size=cfg.text_batch_size,
        device=device,
    )
    return texts.to(device), n_encoded


def _export(
    model: ReAlignModel,
    out_dir: Path,
    tracker: Tracker,
    cfg: AlignConfig,
    metrics: dict[str, float],
) -> Path:
    """Write the merged detector, log it to MLflow as a pyfunc model and register it."""
    save_detector(export_detector(model), out_dir)
    if tracker.enabled:
        from realign_pipeline.detector.pyfunc import log_detector_model
        from realign_pipeline.tracking.registry import register_detector

        uri = log_detector_model(tracker, out_dir)
        logger.info("Logged the detector as pyfunc model %s", uri)
        scores = {k: v for k, v in metrics.items() if k.startswith("val_")}
        lineage = {"git_commit": git_commit()}
        register_detector(tracker, uri, out_dir, cfg.model_dump(mode="json"), scores, lineage)
    return out_dir
