"""Helpers of the data-stage tests: configs from the tiny preset, small image writers."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image

from realign_pipeline.config.demo_data import DemoDataConfig
from realign_pipeline.config.ingest import IngestConfig

REPO_ROOT = Path(__file__).resolve().parents[2]


def preset_section(name: str) -> dict[str, Any]:
    """One section of the tiny preset (params.yaml) as plain data."""
    return yaml.safe_load((REPO_ROOT / "params.yaml").read_text(encoding="utf-8"))[name]


def ingest_config(**updates: Any) -> IngestConfig:
    """The tiny preset's ingest section with `updates` applied, validated."""
    return IngestConfig.model_validate({**preset_section("ingest"), **updates})


def demo_config(**updates: Any) -> DemoDataConfig:
    """The tiny preset's demo_data section with `updates` applied, validated."""
    return DemoDataConfig.model_validate({**preset_section("demo_data"), **updates})


def image_bytes(
    seed: int, size: tuple[int, int] = (64, 48), fmt: str = "PNG", mode: str = "RGB"
) -> bytes:
    """A small random image (width, height) encoded as `fmt`; distinct seeds give distinct bytes."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).convert(mode).save(buf, format=fmt)
    return buf.getvalue()


def write(path: Path, data: bytes) -> Path:
    """Write bytes, creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def small_cfg(**updates: Any) -> IngestConfig:
    """Ingest config for `small_sources`."""
    base: dict[str, Any] = {
        "train_sources": [{"name": "tr", "layout": "aigcdetect", "path": "train"}],
        "benchmarks": [{"name": "bn", "layout": "aigcdetect", "path": "bench"}],
        "val_fraction": 0.0,
        "num_workers": 1,
    }
    return ingest_config(**{**base, **updates})
