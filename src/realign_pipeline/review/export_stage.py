"""`realign review export`: samples -> the experts' review queue.

Reads `artifacts/reasoning/samples.parquet` (the sample stage's columns) and the train manifest,
applies the pre-review policy (`policy.py`) and writes the queue folder (default
`artifacts/review/queue/`, see `queue.py` for its files) in one atomic swap. Stops, writing
nothing, when fewer than `review.min_pairs` items would be queued.

Run: `realign review export --samples artifacts/reasoning/samples.parquet`.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pandas as pd

from realign_pipeline.atomic import (
    atomic_dir,
    atomic_write_json,
    atomic_write_parquet,
    atomic_write_text,
)
from realign_pipeline.config.review import ReviewConfig
from realign_pipeline.errors import MissingInputError
from realign_pipeline.manifest import read_manifest
from realign_pipeline.results import StageResult
from realign_pipeline.review import queue as q
from realign_pipeline.review.labelstudio import create_labeling_config, create_tasks, validate_tasks
from realign_pipeline.review.plain import create_plain_rows, format_csv, format_jsonl
from realign_pipeline.review.policy import (
    apply_policy,
    check_sample_columns,
    count_reasons,
    require_min_items,
)
from realign_pipeline.tracking import Tracker

logger = logging.getLogger(__name__)


def read_samples(path: str | Path) -> pd.DataFrame:
    """Read samples.parquet and check its contract columns.

    Raises:
        MissingInputError: the file does not exist.
        InputError: columns are missing.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"samples not found: {path} (run `realign sample` first)")
    samples = pd.read_parquet(path)
    check_sample_columns(samples, str(path))
    return samples


def create_queue(kept: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The queue table (`QUEUE_COLUMNS`) of the kept samples and its fingerprint."""
    queue = kept.copy()
    queue["queue_fingerprint"] = ""
    queue = queue[list(q.QUEUE_COLUMNS)].reset_index(drop=True)
    fingerprint = q.compute_fingerprint(queue) if len(queue) else ""
    queue["queue_fingerprint"] = fingerprint
    return queue, fingerprint


def _write_queue_dir(
    out_dir: Path, queue: pd.DataFrame, dropped: pd.DataFrame, cfg: ReviewConfig, summary: dict
) -> None:
    config = create_labeling_config()
    tasks = create_tasks(queue, cfg)
    validate_tasks(config, tasks)
    rows = create_plain_rows(queue, cfg)
    with atomic_dir(out_dir) as tmp:
        atomic_write_parquet(tmp / q.QUEUE_FILE, queue)
        atomic_write_parquet(tmp / q.DROPPED_FILE, dropped)
        atomic_write_text(tmp / q.CONFIG_FILE, config)
        # compact: json's C encoder only runs without indent (tasks.json can hold 100k tasks)
        atomic_write_text(tmp / q.TASKS_FILE, json.dumps(tasks, ensure_ascii=False) + "\n")
        atomic_write_text(tmp / q.CSV_FILE, format_csv(rows))
        atomic_write_text(tmp / q.JSONL_FILE, format_jsonl(rows))
        atomic_write_json(tmp / q.SUMMARY_FILE, summary)


def run_review_export(
    samples_path: str | Path,
    manifest_path: str | Path,
    data_root: str | Path,
    out_dir: str | Path,
    cfg: ReviewConfig,
    *,
    tracker: Tracker | None = None,
) -> StageResult:
    """Apply the pre-review policy and write the review queue folder.

    Args:
        samples_path: samples.parquet of the sample stage.
        manifest_path: the train manifest (path/label/generator by image_id).
        data_root: root of the manifest's image paths.
        out_dir: the queue folder, replaced as a whole.
        cfg: the review section.
        tracker: MLflow run to log counts and the summary to.

    Raises:
        MissingInputError: an input file is missing.
        InputError: columns are missing, or fewer than `cfg.min_pairs` items remain (the message
            gives the counts by drop reason).
    """
    tracker = tracker or Tracker()
    out_dir = Path(out_dir)
    samples = read_samples(samples_path)
    manifest = read_manifest(manifest_path)
    kept, dropped = apply_policy(samples, manifest, data_root, cfg)
    dropped_counts = count_reasons(dropped["drop_reason"])
    require_min_items(len(kept), cfg.min_pairs, dropped_counts, f"review export of {samples_path}")
    queue, fingerprint = create_queue(kept)
    sources = queue["text_source"].value_counts().to_dict()
    counts = {
        "read": len(samples),
        "queued": len(queue),
        "dropped": len(dropped),
        "images": int(queue["image_id"].nunique()),
        "text_from_think": int(sources.get("think", 0)),
        "text_from_raw_text": int(sources.get("raw_text", 0)),
    }
    summary = {
        "counts": counts,
        "dropped_by_reason": dropped_counts,
        "queue_fingerprint": fingerprint,
        "policy": cfg.model_dump(mode="json"),
        # lets `check_export(path, queue_dir)` find the images without being told the root
        "data_root_from_queue": os.path.relpath(Path(data_root).resolve(), out_dir.resolve()),
    }
    _write_queue_dir(out_dir, queue, dropped, cfg, summary)
    logger.info(
        "review queue: %d items for %d images in %s (dropped %s)",
        len(queue),
        counts["images"],
        out_dir,
        {k: v for k, v in dropped_counts.items() if v},
    )
    tracker.log_metrics({f"export_{k}": v for k, v in counts.items()})
    tracker.log_dict(summary, "review/export_summary.json")
    return StageResult(
        stage="review_export",
        outputs={
            "queue_dir": str(out_dir),
            "tasks": str(out_dir / q.TASKS_FILE),
            "labeling_config": str(out_dir / q.CONFIG_FILE),
        },
        counts={**counts, **{f"dropped_{k}": v for k, v in dropped_counts.items()}},
        extra={"queue_fingerprint": fingerprint},
    )
