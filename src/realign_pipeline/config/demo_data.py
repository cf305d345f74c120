"""`demo_data` section."""

from __future__ import annotations

from realign_pipeline.config.base import Section


class DemoDataConfig(Section):
    """Placeholder until the demo_data stage lands; filled in by its owner."""
