"""`ingest` section."""

from __future__ import annotations

from realign_pipeline.config.base import Section


class IngestConfig(Section):
    """Placeholder until the ingest stage lands; filled in by its owner."""
