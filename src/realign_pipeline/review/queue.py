"""The review queue table: one row per item queued for experts, keyed by a stable `sample_id`.

Files of the queue folder (default `artifacts/review/queue/`), written by `run_review_export`:
    queue.parquet          the items (`QUEUE_COLUMNS`), sorted by sample key
    dropped.parquet        samples the pre-review policy left out, with `drop_reason`
    labeling_config.xml    Label Studio labeling config
    tasks.json             Label Studio import JSON (one task per item, predictions pre-filled)
    queue.csv, queue.jsonl the plain round-trip format for teams without Label Studio
    summary.json           counts kept/dropped by reason, fingerprint

Columns of queue.parquet:
    sample_id          16 hex chars of sha256 over the sample key (image_id, question_id, seed,
                       temperature): the same sample always gets the same id
    image_id, question_id, seed, temperature, path, label, generator, model_id
                       copied from samples.parquet (path/label/generator from the manifest)
    text               the reasoning shown to experts: the `<think>` text, or the raw completion
                       when the sample had none and `review.fallback_raw_text` is on
    text_source        "think" or "raw_text"
    answer, format_ok, correct   the model's parsed answer and flags, for the reviewer's pre-fill
    queue_fingerprint  sha256 over every (sample_id, path, label, text): identifies this queue, so
                       an export made from another queue is refused at import
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
from pydantic import ValidationError

from realign_pipeline.config.review import ReviewConfig
from realign_pipeline.errors import InputError, MissingInputError

QUEUE_FILE = "queue.parquet"
DROPPED_FILE = "dropped.parquet"
CONFIG_FILE = "labeling_config.xml"
TASKS_FILE = "tasks.json"
CSV_FILE = "queue.csv"
JSONL_FILE = "queue.jsonl"
SUMMARY_FILE = "summary.json"

QUEUE_COLUMNS = (
    "sample_id",
    "image_id",
    "question_id",
    "seed",
    "temperature",
    "path",
    "label",
    "generator",
    "model_id",
    "text",
    "text_source",
    "answer",
    "format_ok",
    "correct",
    "queue_fingerprint",
)
LABEL_NAMES = {0: "real", 1: "fake"}


def label_sentence(label: int) -> str:
    """The paper's prefix for a label: "This is a real image." / "This is a fake image."."""
    return f"This is a {LABEL_NAMES[int(label)]} image."


def compute_sample_id(image_id: str, question_id: object, seed: object, temperature: object) -> str:
    """Stable id of one sample from its key (the same key always gives the same id)."""
    key = f"{image_id}|{question_id}|{int(seed)}|{float(temperature)!r}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def compute_fingerprint(queue: pd.DataFrame) -> str:
    """Fingerprint of a queue: sha256 over its sorted (sample_id, path, label, text) rows."""
    digest = hashlib.sha256()
    rows = queue.sort_values("sample_id")[["sample_id", "path", "label", "text"]]
    for sample_id, path, label, text in rows.itertuples(index=False):
        for part in (sample_id, path, str(int(label)), text):
            encoded = str(part).encode("utf-8")
            digest.update(len(encoded).to_bytes(8, "big") + encoded)
    return digest.hexdigest()


def read_queue(queue_dir: str | Path) -> tuple[pd.DataFrame, str]:
    """Read `queue.parquet` and check it is whole.

    Returns:
        The queue (in its stored order, sorted by sample key) and its fingerprint.

    Raises:
        MissingInputError: the queue file does not exist.
        InputError: columns are missing, sample ids repeat, or the fingerprint does not match.
    """
    path = Path(queue_dir) / QUEUE_FILE
    if not path.is_file():
        raise MissingInputError(f"review queue not found: {path} (run `realign review export`)")
    queue = pd.read_parquet(path)
    missing = [c for c in QUEUE_COLUMNS if c not in queue.columns]
    if missing:
        raise InputError(f"review queue {path}: missing columns {missing}; re-run the export")
    if queue["sample_id"].duplicated().any():
        dup = queue.loc[queue["sample_id"].duplicated(), "sample_id"].iloc[0]
        raise InputError(f"review queue {path}: sample_id {dup} appears twice; re-run the export")
    fingerprint = compute_fingerprint(queue) if len(queue) else ""
    stored = set(queue["queue_fingerprint"])
    if stored and stored != {fingerprint}:
        raise InputError(
            f"review queue {path}: stored fingerprint does not match its rows (edited by hand?); "
            "re-run `realign review export`"
        )
    return queue.reset_index(drop=True), fingerprint


def read_queue_settings(queue_dir: str | Path) -> tuple[ReviewConfig, Path]:
    """The review settings a queue was exported with and its data root (from summary.json).

    Raises:
        MissingInputError: the summary does not exist.
        InputError: it lacks the settings (a queue from an older export: export again).
    """
    queue_dir = Path(queue_dir)
    path = queue_dir / SUMMARY_FILE
    if not path.is_file():
        raise MissingInputError(
            f"review queue summary not found: {path} (run `realign review export`)"
        )
    summary = json.loads(path.read_text(encoding="utf-8"))
    if "policy" not in summary or "data_root_from_queue" not in summary:
        raise InputError(f"{path}: no recorded settings; re-run `realign review export`")
    try:
        cfg = ReviewConfig.model_validate(summary["policy"])
    except ValidationError as exc:
        raise InputError(
            f"{path}: recorded settings no longer valid ({exc.error_count()} error(s)); re-run "
            "`realign review export`"
        ) from None
    return cfg, (queue_dir / summary["data_root_from_queue"]).resolve()
