"""Tiny Qwen2.5-VL fixtures, built once per session from the tiny preset's section."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from realign_pipeline.config.tiny_models import TinyModelsConfig

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tiny_cfg() -> TinyModelsConfig:
    """The `tiny_models` section of the tiny preset (params.yaml)."""
    data = yaml.safe_load((REPO_ROOT / "params.yaml").read_text(encoding="utf-8"))
    return TinyModelsConfig.model_validate(data["tiny_models"])


@pytest.fixture(scope="session")
def tiny_vlm_dir(tmp_path_factory: pytest.TempPathFactory, tiny_cfg: TinyModelsConfig) -> Path:
    """A tiny Qwen2.5-VL saved like a hub snapshot (built offline, seed 0)."""
    from realign_pipeline.tiny_models import build_tiny_vlm

    return build_tiny_vlm(tmp_path_factory.mktemp("models") / "vlm", tiny_cfg, seed=0)
