"""`run_tiny_models`: build the tiny VLM when a stage's model names it, else only a marker.

The stage's output folder always exists, so one dvc.yaml serves both presets: grpo and caption
depend on it either way. With the tiny preset `grpo.model` and `caption.model` name
`<out>/vlm` and the folder holds that model; with the paper preset they name hub models and the
folder holds only the marker, whose bytes do not change with the `tiny_models` section, so
editing that section never reruns the paper's grpo or caption.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from realign_pipeline.atomic import atomic_dir, atomic_write_json
from realign_pipeline.config.tiny_models import TinyModelsConfig
from realign_pipeline.errors import ConfigError
from realign_pipeline.results import StageResult
from realign_pipeline.tiny_models.vlm import build_tiny_vlm

__all__ = ["MARKER", "MODEL_DIR", "run_tiny_models"]

MARKER = "tiny_models.json"
MODEL_DIR = "vlm"


def _consumers_inside(out: Path, consumers: Mapping[str, str]) -> list[str]:
    """The params keys whose model names a folder inside `out` (it must be `<out>/vlm`)."""
    inside = []
    for key, model in sorted(consumers.items()):
        if not Path(model).resolve().is_relative_to(out.resolve()):
            continue  # a hub id (org/name) or a folder elsewhere
        if Path(model).resolve() != (out / MODEL_DIR).resolve():
            raise ConfigError(
                f"{key}={model} is inside {out}, but the tiny_models stage builds only "
                f"{out / MODEL_DIR}: set {key}={out / MODEL_DIR} or a hub id"
            )
        inside.append(key)
    return inside


def run_tiny_models(
    out: str | Path, cfg: TinyModelsConfig, *, consumers: Mapping[str, str], seed: int
) -> StageResult:
    """Write `out` (replaced as a whole): `<out>/vlm` if a consumer names it, and the marker.

    Args:
        out: The stage's output folder.
        cfg: Sizes of the tiny model.
        consumers: params key -> model the stage loads (`grpo.model`, `caption.model`).
        seed: Seeds the weight initialisation.
    """
    out = Path(out)
    needed_by = _consumers_inside(out, consumers)
    with atomic_dir(out) as tmp:
        if needed_by:
            build_tiny_vlm(tmp / MODEL_DIR, cfg, seed=seed)
        built = [MODEL_DIR] if needed_by else []
        atomic_write_json(tmp / MARKER, {"built": built, "for": needed_by})
    outputs = {"folder": str(out)}
    if needed_by:
        outputs["model"] = str(out / MODEL_DIR)
    return StageResult(
        stage="tiny_models", outputs=outputs, counts={"models": int(bool(needed_by))}
    )
