"""Seeded synthetic inputs for the benchmarks: image folders, manifests, random-weight models.

`write_images` writes `n` small distinct PNGs in the `aigcdetect` layout
(`train/<generator>/{0_real,1_fake}/<i>.png`, half of each label); `ingest` runs `run_ingest`
on them with the preset's `ingest` section (train source only, no benchmark) and returns the
manifest folder. `write_manifest` records images already written, without ingest.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from realign_pipeline.config import load_params
from realign_pipeline.data import run_ingest
from realign_pipeline.manifest import MANIFEST_COLUMNS

GENERATORS = ("gen_a", "gen_b", "gen_c", "gen_d")


def write_images(root: Path, n: int, size: int = 32, seed: int = 0) -> list[Path]:
    """`n` seeded PNGs (`size` px, distinct bytes; label `i % 2`) under `root/train` in the
    aigcdetect layout; their paths."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    paths = []
    for i in range(n):
        label = i % 2
        kind = "1_fake" if label else "0_real"
        folder = root / "train" / GENERATORS[(i // 2) % len(GENERATORS)] / kind
        folder.mkdir(parents=True, exist_ok=True)
        pixels = base.copy()
        pixels.reshape(-1)[:8] = np.frombuffer(i.to_bytes(8, "little"), dtype=np.uint8)
        pixels[size // 2 :, :, label] //= 2  # a little label signal; values differ per image
        paths.append(folder / f"{i:07d}.png")
        Image.fromarray(pixels).save(paths[-1], compress_level=1)
    return paths


def ingest(root: Path, out: Path, params: str | Path, workers: int = 0) -> Path:
    """Manifests of the images under `root/train` (val_fraction from the preset); returns `out`."""
    cfg = load_params(params)
    section = cfg.ingest.model_validate(
        {
            **cfg.ingest.model_dump(),
            "train_sources": [{"name": "synthetic", "layout": "aigcdetect", "path": "train"}],
            "benchmarks": [],
            "num_workers": workers,
        }
    )
    run_ingest(root, out, out.parent / f"{out.name}-metrics.json", section, seed=cfg.seed)
    return out


def write_manifest(root: Path, rows: list[tuple[str, int, str]], split: str, out: Path) -> Path:
    """A manifest at `out` of images under `root`, given as (relative path, label, generator)."""
    records = []
    for rel, label, generator in rows:
        with Image.open(root / rel) as image:
            width, height, fmt = *image.size, image.format
        digest = hashlib.sha256((root / rel).read_bytes()).hexdigest()
        records.append([digest, rel, label, generator, "", "bench", split, width, height, fmt])
    frame = pd.DataFrame(records, columns=list(MANIFEST_COLUMNS))
    frame = frame.astype({"label": "int8", "width": "int32", "height": "int32"})
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out, index=False)
    return out


def write_two_class(root: Path, split: str, n_per_class: int, seed: int) -> Path:
    """48 px PNGs under `root/<split>`, noise-like "real" and smooth periodic "fake" ones (the
    demo data's kind), and their manifest `root/../manifests/<split>.parquet`."""
    rng, rows = np.random.default_rng(seed), []
    for label in (0, 1):
        for i in range(n_per_class):
            if label:
                x = np.linspace(0, (2 + i % 3) * np.pi, 48)
                base = (np.sin(x)[None, :] + np.cos(x)[:, None]) * 60 + 128
                arr = np.stack([base, base.T, base[::-1]], axis=-1) + rng.normal(0, 3, (48, 48, 3))
            else:
                arr = rng.normal(128, 50, (48, 48, 3))
            rel = f"{split}/{label}/{i}.png"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(root / rel)
            rows.append((rel, label, "bench" if label else "real"))
    return write_manifest(root, rows, split, root.parent / "manifests" / f"{split}.parquet")


# Qwen2.5-VL's special tokens, by the config key that holds each one's id
QWEN_TOKENS = {
    "bos_token_id": "<|endoftext|>", "pad_token_id": "<|endoftext|>", "eos_token_id": "<|im_end|>",
    "vision_start_token_id": "<|vision_start|>", "vision_end_token_id": "<|vision_end|>",
    "image_token_id": "<|image_pad|>", "video_token_id": "<|video_pad|>",
}  # fmt: skip


def save_random_qwen(raw: dict, processor, out: Path) -> tuple:  # noqa: ANN001 - a processor
    """Save a Qwen2.5-VL of the flat config `raw` with random bf16 weights (seed 0; built on the
    GPU when there is one) and `processor` to `out`, the special-token ids set to those of
    `processor.tokenizer`; returns (config, parameter count)."""
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    ids = {key: processor.tokenizer.convert_tokens_to_ids(tok) for key, tok in QWEN_TOKENS.items()}
    config = Qwen2_5_VLConfig(**{**raw, **ids})
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
            model = Qwen2_5_VLForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(torch.float32)
    model.generation_config.eos_token_id = ids["eos_token_id"]
    model.generation_config.pad_token_id = ids["pad_token_id"]
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return config, sum(p.numel() for p in model.parameters())
