"""A tiny random detector saved to disk, built from the repo's tiny open_clip config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from realign_pipeline.detector import DetectorSpec, create_detector, save_detector
from realign_pipeline.model_configs import CONFIG_DIR, TINY_MODEL_NAME


def _tiny_spec(threshold: float = 0.5) -> DetectorSpec:
    cfg = json.loads((CONFIG_DIR / f"{TINY_MODEL_NAME}.json").read_text())
    return DetectorSpec.model_validate(
        {
            "format_version": 1,
            "architecture": TINY_MODEL_NAME,
            "model_config": {"embed_dim": cfg["embed_dim"], "vision_cfg": cfg["vision_cfg"]},
            "image_size": cfg["vision_cfg"]["image_size"],
            "mean": [0.48145466, 0.4578275, 0.40821073],
            "std": [0.26862954, 0.26130258, 0.27577711],
            "interpolation": "bicubic",
            "resize_mode": "shortest",
            "threshold": threshold,
            "head": {"in_dim": cfg["embed_dim"], "hidden_dim": 16, "normalize_input": True},
            "provenance": {"test": True},
        }
    )


@pytest.fixture
def tiny_spec() -> DetectorSpec:
    """Spec of a detector with the tiny architecture and CLIP's usual preprocessing."""
    return _tiny_spec()


@pytest.fixture
def tiny_detector_dir(tmp_path: Path, tiny_spec: DetectorSpec) -> Path:
    """A saved random tiny detector folder."""
    torch.manual_seed(0)
    detector = create_detector(tiny_spec)
    return save_detector(detector, tmp_path / "detector")
