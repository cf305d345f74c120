"""`review` section."""

from __future__ import annotations

from realign_pipeline.config.base import Section


class ReviewConfig(Section):
    """Placeholder until the review stage lands; filled in by its owner."""
