"""Fixtures of the review tests: a data root, its manifest, samples and an exported queue."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from realign_pipeline.config.review import ReviewConfig
from realign_pipeline.review import run_review_export, run_review_import
from tests.conftest import make_manifest
from tests.review.review_helpers import make_samples, review_config, write_samples


@dataclass(frozen=True)
class Exported:
    """A queue exported from the synthetic samples, with everything a test needs."""

    root: Path
    data_root: Path
    manifest: Path
    samples: Path
    queue_dir: Path
    cfg: ReviewConfig

    @cached_property
    def tasks(self) -> list[dict]:
        return json.loads((self.queue_dir / "tasks.json").read_text(encoding="utf-8"))

    @cached_property
    def queue(self) -> pd.DataFrame:
        return pd.read_parquet(self.queue_dir / "queue.parquet")

    def outputs(self, out: Path) -> dict[str, Path]:
        """Where an import run of a test writes (under the test's own `out`)."""
        return {
            "pairs": out / "pairs.parquet",
            "report": out / "import_report.json",
            "metrics": out / "metrics.json",
        }

    def run_import(self, out: Path, cfg: ReviewConfig | None = None, **kwargs: Any) -> Any:
        """`run_review_import` of this queue into `outputs(out)`, with `cfg` (default: its own)."""
        paths = self.outputs(out)
        return run_review_import(
            self.queue_dir,
            self.data_root,
            paths["pairs"],
            paths["report"],
            paths["metrics"],
            self.cfg if cfg is None else cfg,
            **kwargs,
        )


@pytest.fixture
def tiny_cfg() -> ReviewConfig:
    """The tiny preset's review section (min_pairs lowered for small fixtures)."""
    return review_config(min_pairs=1)


def _export(root: Path, cfg: ReviewConfig) -> Exported:
    data_root = root / "data"
    manifest = root / "manifests" / "train.parquet"
    manifest.parent.mkdir(parents=True)
    rows = make_manifest(data_root)
    rows.to_parquet(manifest, index=False)
    samples = write_samples(root / "reasoning" / "samples.parquet", make_samples(rows))
    queue_dir = root / "review" / "queue"
    run_review_export(samples, manifest, data_root, queue_dir, cfg)
    return Exported(root, data_root, manifest, samples, queue_dir, cfg)


@pytest.fixture
def exported(tmp_path: Path, tiny_cfg: ReviewConfig) -> Exported:
    """Queue of the tiny policy over 8 images x 4 samples (24 items: the duplicates dropped)."""
    return _export(tmp_path / "exported", tiny_cfg)


@pytest.fixture(scope="module")
def shared_export(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """The same queue built once per module, for tests that only read it."""
    return _export(tmp_path_factory.mktemp("shared"), review_config(min_pairs=1))
