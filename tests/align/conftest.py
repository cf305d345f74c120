"""Alignment fixtures: a tiny pairs table over synthetic images, a val manifest, tiny config."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from realign_pipeline.config import load_params
from realign_pipeline.config.align import AlignConfig

REPO_ROOT = Path(__file__).resolve().parents[2]


def pairs_rows(manifest: pd.DataFrame, per_image: int) -> pd.DataFrame:
    rows = []
    for _, img in manifest.iterrows():
        label = "fake" if img["label"] else "real"
        for k in range(per_image):
            think = f"Sample {k}: the {label} look of {img['path']} shows detail {k}."
            caption = f"A picture numbered {img['path'][-6:-4]}."
            rows.append(
                {
                    "sample_id": f"{img['image_id'][:12]}-{k}",
                    "image_id": img["image_id"],
                    "path": img["path"],
                    "label": int(img["label"]),
                    "generator": img["generator"],
                    "outcome": "accepted" if k == 0 else "edited",
                    "text_full": f"This is a {label} image. {think}",
                    "text_reasoning_only": think,
                    "text_label_caption": f"This is a {label} image. {caption}",
                    "text_caption_only": caption,
                    "text_label_only": f"This is a {label} image.",
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture
def align_inputs(tmp_path: Path) -> dict[str, Path]:
    """data_root, pairs.parquet (8 images x 2 texts) and val.parquet (4 images)."""
    from tests.conftest import make_manifest

    root = tmp_path / "data"
    train = make_manifest(root, n_per_class=4, size=32, split="train", seed=0)
    val = make_manifest(root, n_per_class=2, size=32, split="val", seed=1)
    pairs = tmp_path / "pairs" / "pairs.parquet"
    pairs.parent.mkdir()
    pairs_rows(train, per_image=2).to_parquet(pairs, index=False)
    val_path = tmp_path / "manifests" / "val.parquet"
    val_path.parent.mkdir()
    val.to_parquet(val_path, index=False)
    return {"data_root": root, "pairs": pairs, "val": val_path}


@pytest.fixture
def tiny_align_cfg() -> AlignConfig:
    """The tiny preset's align section, shrunk to 2 short epochs."""
    cfg = load_params(REPO_ROOT / "params.yaml").align
    return cfg.model_copy(update={"num_train_epochs": 2, "batch_size": 4, "warmup_steps": 1})
