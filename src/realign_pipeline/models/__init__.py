"""Vision-language models: the loader every stage uses (the tiny builder is in tiny_models)."""

from realign_pipeline.models.vlm import load_processor, load_vlm

__all__ = ["load_processor", "load_vlm"]
