"""`pipeline` section."""

from __future__ import annotations

from realign_pipeline.config.base import Section


class PipelineConfig(Section):
    """Placeholder until the pipeline stage lands; filled in by its owner."""
