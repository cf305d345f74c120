"""Vision-language models: the loader every stage uses and the offline tiny builder."""

from realign_pipeline.models.tiny_vlm import build_tiny_vlm
from realign_pipeline.models.vlm import load_processor, load_vlm

__all__ = ["build_tiny_vlm", "load_processor", "load_vlm"]
