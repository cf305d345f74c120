"""`align` section."""

from __future__ import annotations

from realign_pipeline.config.base import Section


class AlignConfig(Section):
    """Placeholder until the align stage lands; filled in by its owner."""
