"""`evaluate` and `ablate` sections."""

from __future__ import annotations

from realign_pipeline.config.base import Section


class EvaluateConfig(Section):
    """Placeholder until the evaluate stage lands."""


class AblateConfig(Section):
    """Placeholder until the evaluate stage lands."""
