"""The tiny_models stage: a tiny Qwen2.5-VL built offline for the tiny preset and the tests."""

from realign_pipeline.tiny_models.stage import MARKER, run_tiny_models
from realign_pipeline.tiny_models.vlm import build_tiny_vlm

__all__ = ["MARKER", "build_tiny_vlm", "run_tiny_models"]
