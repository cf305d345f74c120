"""`realign review import`: the experts' work (or the auto policy) -> the alignment pairs.

Reads the queue folder of `review export`, and in `human` mode the experts' export
(`review.export_path`, Label Studio JSON / JSON-MIN or the plain CSV/JSONL), optionally the
caption stage's captions.parquet. Writes `artifacts/pairs/pairs.parquet` (see `pairs.py`),
`artifacts/review/import_report.json` (counts per outcome adding up to the queue size, reasons,
one record per item) and the metrics JSON. Every check runs before anything is written, so a bad
export or too few pairs leaves the previous outputs untouched.

Run: `realign review import` (mode from params) or `realign review import --export FILE`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from realign_pipeline.atomic import atomic_write_json, atomic_write_parquet
from realign_pipeline.config.review import ReviewConfig
from realign_pipeline.headline import flatten, review_headline
from realign_pipeline.results import StageResult
from realign_pipeline.review.outcomes import (
    auto_outcomes,
    check_tasks,
    decide_outcomes,
    summarise_outcomes,
)
from realign_pipeline.review.pairs import build_pairs, pairs_to_arrow, read_captions
from realign_pipeline.review.policy import require_min_items
from realign_pipeline.review.queue import read_queue, read_queue_settings
from realign_pipeline.review.reading import read_export
from realign_pipeline.tracking import Tracker

logger = logging.getLogger(__name__)


def _review(
    queue_dir: Path, data_root: Path, cfg: ReviewConfig, export_path: Path | None
) -> tuple[Any, list[dict], dict[str, Any]]:
    """Queue, per-item outcomes and the report head; raises before anything is written."""
    queue, fingerprint = read_queue(queue_dir)
    head: dict[str, Any] = {
        "mode": cfg.mode,
        "queue_dir": str(queue_dir),
        "queue_fingerprint": fingerprint,
        "queue_size": len(queue),
    }
    if cfg.mode == "auto":
        items = auto_outcomes(queue)
        head.update(export_path=None, export_format=None, export_tasks=0)
    else:
        export_path = Path(export_path or cfg.export_path)
        parsed = read_export(export_path)
        check_tasks(parsed, queue, fingerprint, data_root, cfg)
        items = decide_outcomes(parsed, queue, cfg)
        head.update(
            export_path=str(export_path),
            export_format=parsed.format,
            export_tasks=len(parsed.tasks),
        )
    summary = summarise_outcomes(items)
    assert sum(summary["counts"].values()) == len(queue), "every queue item has one outcome"
    pairs = summary["counts"]["accepted"] + summary["counts"]["edited"]
    head.update(summary, pairs=pairs)
    flat = {f"{o}/{r}": n for o, rs in summary["reasons"].items() for r, n in rs.items()}
    require_min_items(pairs, cfg.min_pairs, flat, f"review import ({cfg.mode} mode)")
    return queue, items, head


def check_export(
    export_path: str | Path,
    queue_dir: str | Path,
    data_root: str | Path | None = None,
    cfg: ReviewConfig | None = None,
) -> dict[str, Any]:
    """Validate an experts' export against the queue without writing anything.

    For the pipeline's review pause: call it on the submitted path before resuming the import.

    Args:
        export_path: the submitted export.
        queue_dir: the queue folder it must be a review of.
        data_root: root the image references must stay inside; None: the one the queue was
            exported from (recorded in its summary.json).
        cfg: the review section (image references, min_text_chars, min_pairs); None: the
            settings the queue was exported with.

    Returns:
        The import report head: format, task count, counts per outcome and reason, pairs.

    Raises:
        MissingInputError: the export or the queue is missing.
        InputError: the export is malformed, from another queue, refers outside the data root,
            or would leave fewer than `min_pairs` pairs (the message says which and where).
    """
    if cfg is None or data_root is None:
        recorded_cfg, recorded_root = read_queue_settings(queue_dir)
        cfg = cfg or recorded_cfg
        data_root = data_root if data_root is not None else recorded_root
    human = cfg.model_copy(update={"mode": "human"})
    _, _, head = _review(Path(queue_dir), Path(data_root), human, Path(export_path))
    return head


def run_review_import(
    queue_dir: str | Path,
    data_root: str | Path,
    pairs_path: str | Path,
    report_path: str | Path,
    metrics_path: str | Path,
    cfg: ReviewConfig,
    *,
    export_path: str | Path | None = None,
    captions_path: str | Path | None = None,
    tracker: Tracker | None = None,
) -> StageResult:
    """Decide every queue item's outcome and write the pairs, the report and the metrics.

    Args:
        queue_dir: the queue folder written by `run_review_export`.
        data_root: root that image references must stay inside.
        pairs_path: pairs.parquet to write.
        report_path: import_report.json to write.
        metrics_path: headline metrics JSON (`review_headline`: counts per outcome) to write.
        cfg: the review section (`mode` picks auto or human).
        export_path: the experts' export in human mode (default `cfg.export_path`).
        captions_path: captions.parquet; absent or None gives null caption variants.
        tracker: MLflow run to log counts and the report to.

    Raises:
        MissingInputError: the queue or (human mode) the export is missing.
        InputError: a bad export, or fewer than `cfg.min_pairs` pairs; nothing is written.
    """
    tracker = tracker or Tracker()
    queue, items, head = _review(
        Path(queue_dir), Path(data_root), cfg, Path(export_path) if export_path else None
    )
    pairs = build_pairs(queue, items, read_captions(captions_path))
    head["captions"] = int(pairs["text_caption_only"].notna().sum())
    report = {**head, "items": [{k: v for k, v in i.items() if k != "text"} for i in items]}
    counts = {"queue": len(queue), **head["counts"], "pairs": len(pairs)}
    atomic_write_parquet(pairs_path, pairs_to_arrow(pairs))
    atomic_write_json(report_path, report)
    rate = float(len(pairs)) / len(queue) if len(queue) else 0.0
    headline = review_headline(counts, rate)
    atomic_write_json(metrics_path, headline)
    logger.info("review import (%s): %s", cfg.mode, counts)
    tracker.log_artifact(report_path, "review")
    return StageResult(
        stage="review_import",
        outputs={
            "pairs": str(pairs_path),
            "report": str(report_path),
            "metrics": str(metrics_path),
        },
        counts=counts,
        metrics=flatten(headline),
        extra={"mode": cfg.mode, "export_format": head["export_format"]},
    )
