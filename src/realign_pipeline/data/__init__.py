"""Data stages: `run_ingest` (validate images, write manifests) and `build_demo_data` (the seeded
stand-in data set for the tiny preset)."""

from realign_pipeline.data.demo import build_demo_data
from realign_pipeline.data.ingest import run_ingest

__all__ = ["build_demo_data", "run_ingest"]
