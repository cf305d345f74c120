"""Fixtures of the evaluate tests: a tiny exported detector and a small benchmark manifest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from realign_pipeline.config.evaluate import EvaluateConfig
from realign_pipeline.manifest import benchmark_file
from realign_pipeline.model_configs import CONFIG_DIR, TINY_MODEL_NAME


def make_tiny_detector(out_dir: Path, seed: int = 0) -> Path:
    """Export a random tiny detector (open_clip ViT, 32 px) with the real save_detector."""
    from realign_pipeline.detector import DetectorSpec, create_detector, save_detector

    model_config = json.loads((CONFIG_DIR / f"{TINY_MODEL_NAME}.json").read_text())
    spec = DetectorSpec.model_validate(
        {
            "format_version": 1,
            "architecture": TINY_MODEL_NAME,
            "model_config": model_config,
            "image_size": 32,
            "mean": [0.48145466, 0.4578275, 0.40821073],
            "std": [0.26862954, 0.26130258, 0.27577711],
            "interpolation": "bicubic",
            "resize_mode": "shortest",
            "threshold": 0.5,
            "head": {"in_dim": 32, "hidden_dim": 16, "normalize_input": True},
            "provenance": {"source": "test fixture"},
        }
    )
    torch.manual_seed(seed)
    return save_detector(create_detector(spec), out_dir)


@pytest.fixture(scope="session")
def tiny_detector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_detector(tmp_path_factory.mktemp("detector") / "detector")


def _write(path: Path, rng: np.random.Generator, size: int, fake: bool) -> None:
    arr = rng.normal(128, 60 if not fake else 15, (size, size + 8, 3))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(path, format="PNG")


def make_benchmark(root: Path, manifests: Path, name: str = "demo") -> pd.DataFrame:
    """A benchmark: gen_a (categories cat/dog), gen_b, and one corrupt file under gen_b."""
    rng = np.random.default_rng(1)
    rows = []
    layout = [("gen_a", "cat"), ("gen_a", "dog"), ("gen_b", "")]
    for gen, cat in layout:
        for label in (0, 1):
            for i in range(2):
                folder = Path(
                    "benchmarks", name, gen, cat, f"{label}_{'fake' if label else 'real'}"
                )
                rel = (folder / f"{i}.png").as_posix()
                _write(root / rel, rng, 40, bool(label))
                rows.append((rel, label, gen, cat))
    corrupt = f"benchmarks/{name}/gen_b/1_fake/broken.png"
    (root / corrupt).write_bytes(b"\x89PNG\r\n\x1a\n not really")
    rows.append((corrupt, 1, "gen_b", ""))
    frame = pd.DataFrame(
        [
            {
                "image_id": hashlib.sha256((root / rel).read_bytes()).hexdigest(),
                "path": rel,
                "label": label,
                "generator": gen,
                "category": cat,
                "dataset": name,
                "split": "benchmark",
                "width": 48,
                "height": 40,
                "format": "PNG",
            }
            for rel, label, gen, cat in rows
        ]
    )
    frame["label"] = frame["label"].astype("int8")
    manifests.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(manifests / benchmark_file(name), index=False)
    return frame


@pytest.fixture
def benchmark_data(tmp_path: Path) -> tuple[Path, Path, pd.DataFrame]:
    """(data_root, manifest folder, manifest rows) of the `demo` benchmark."""
    root, manifests = tmp_path / "data", tmp_path / "manifests"
    return root, manifests, make_benchmark(root, manifests)


@pytest.fixture
def eval_cfg() -> EvaluateConfig:
    return EvaluateConfig(
        benchmarks=["demo"],
        preprocessing="aigcdetect",
        resize_scale=256 / 224,
        threshold=0.5,
        ece_bins=10,
        batch_size=4,
        num_workers=0,
        device="cpu",
        cpu_threads=0,
        max_pixels=10_000_000,
        perturbations=[
            {"kind": "jpeg", "value": 75},
            {"kind": "blur", "value": 1},
            {"kind": "downscale", "value": 0.5},
        ],
    )
