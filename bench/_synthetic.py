"""Seeded synthetic image folders for the benchmarks, and their manifests through the real ingest.

`write_images` writes `n` small distinct PNGs in the `aigcdetect` layout
(`train/<generator>/{0_real,1_fake}/<i>.png`, half of each label); `ingest` runs `run_ingest`
on them with the preset's `ingest` section (train source only, no benchmark) and returns the
manifest folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from realign_pipeline.config import load_params
from realign_pipeline.data import run_ingest

GENERATORS = ("gen_a", "gen_b", "gen_c", "gen_d")


def write_images(root: Path, n: int, size: int = 32, seed: int = 0) -> None:
    """`n` seeded PNGs (`size` px, distinct bytes) under `root/train` in the aigcdetect layout."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    for i in range(n):
        label = i % 2
        kind = "1_fake" if label else "0_real"
        folder = root / "train" / GENERATORS[(i // 2) % len(GENERATORS)] / kind
        folder.mkdir(parents=True, exist_ok=True)
        pixels = base.copy()
        pixels.reshape(-1)[:8] = np.frombuffer(i.to_bytes(8, "little"), dtype=np.uint8)
        pixels[size // 2 :, :, label] //= 2  # a little label signal; values differ per image
        Image.fromarray(pixels).save(folder / f"{i:07d}.png", compress_level=1)


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
