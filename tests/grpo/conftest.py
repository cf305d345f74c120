"""GRPO fixtures: the tiny preset's sections, a tiny VLM, and train/val manifests."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from realign_pipeline.config.grpo import GRPOConfig
from realign_pipeline.config.tiny_models import TinyModelsConfig
from tests.conftest import make_manifest

REPO_ROOT = Path(__file__).resolve().parents[2]


def _section(name: str) -> dict:
    return yaml.safe_load((REPO_ROOT / "params.yaml").read_text(encoding="utf-8"))[name]


@pytest.fixture(scope="session")
def grpo_cfg() -> GRPOConfig:
    """The tiny preset's `grpo` section (params.yaml)."""
    return GRPOConfig.model_validate(_section("grpo"))


@pytest.fixture(scope="session")
def fast_cfg(grpo_cfg: GRPOConfig) -> GRPOConfig:
    """The tiny preset cut down for tests: few steps, short completions, small evaluation."""
    return grpo_cfg.model_copy(
        update={
            "max_steps": 2,
            "save_steps": 2,
            "max_completion_length": 24,
            "max_train_images": 8,
            "cold_start": grpo_cfg.cold_start.model_copy(update={"enabled": False}),
            "eval": grpo_cfg.eval.model_copy(
                update={"max_images": 4, "max_new_tokens": 24, "baseline": False}
            ),
        }
    )


@pytest.fixture(scope="session")
def tiny_vlm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Qwen2.5-VL of the tiny preset, saved like a hub snapshot."""
    from realign_pipeline.tiny_models import build_tiny_vlm

    cfg = TinyModelsConfig.model_validate(_section("tiny_models"))
    return build_tiny_vlm(tmp_path_factory.mktemp("grpo-models") / "vlm", cfg, seed=0)


@pytest.fixture(scope="session")
def grpo_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(data_root, train_manifest, val_manifest): 16 train and 8 val images of two classes."""
    base = tmp_path_factory.mktemp("grpo-data")
    root = base / "data"
    paths = []
    for split, n, seed in (("train", 8, 0), ("val", 4, 1)):
        df = make_manifest(root, n_per_class=n, size=48, split=split, seed=seed)
        path = base / "manifests" / f"{split}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        df.to_parquet(path, index=False)
        paths.append(path)
    return root, paths[0], paths[1]
