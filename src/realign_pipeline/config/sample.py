"""`sample` and `caption` sections."""

from __future__ import annotations

from realign_pipeline.config.base import Section


class SampleConfig(Section):
    """Placeholder until the sample stage lands."""


class CaptionConfig(Section):
    """Placeholder until the sample stage lands."""
