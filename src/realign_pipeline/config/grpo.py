"""`tiny_models` and `grpo` sections."""

from __future__ import annotations

from realign_pipeline.config.base import Section


class TinyModelsConfig(Section):
    """Placeholder until the grpo stage lands."""


class GRPOConfig(Section):
    """Placeholder until the grpo stage lands."""
