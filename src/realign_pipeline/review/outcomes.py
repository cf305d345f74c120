"""Outcome rules: every queued item ends accepted, edited, rejected or unreviewed.

Rules, applied per queue item (the first that applies decides; the reason is recorded):

- Export checks (any failure refuses the whole export, nothing is written): every task carries
  this queue's fingerprint; every sample_id is in the queue; every image reference decodes to the
  queued image inside the data root.
- Several tasks with one sample_id (tasks imported twice) are merged; several annotations: the
  latest completed one (by `updated_at`, then `created_at`) wins, the others are recorded as
  superseded. Cancelled (skipped) annotations never decide.
- unreviewed: `not_in_export` (no task), `not_annotated` (no annotation), `skipped` (only
  cancelled annotations).
- rejected: `reviewer_rejected` (decision = reject), `verdict_contradicts_label` (the reviewer's
  real/fake verdict is not the ground-truth label), `empty_text` (the reasoning was deleted or is
  blank), `no_reasoning` (after removing a `<think>` wrapper, a leading "This is a real/fake
  image." sentence and `<answer>` blocks, the text is a bare real/fake or shorter than
  `review.min_text_chars`).
- accepted: the text equals the queued text (line endings and surrounding whitespace aside, or
  after the unwrapping above); edited: otherwise, and the unwrapped text is the new reasoning.

Text is compared and stored as plain strings: markup is never interpreted.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from realign_pipeline.config.review import ReviewConfig
from realign_pipeline.errors import InputError
from realign_pipeline.paths import PathEscapeError, resolve_within
from realign_pipeline.review.labelstudio import parse_image_reference
from realign_pipeline.review.queue import LABEL_NAMES
from realign_pipeline.review.records import Annotation, ExportTask, ParsedExport

OUTCOMES = ("accepted", "edited", "rejected", "unreviewed")
REASONS = {
    "accepted": ("unchanged", "auto_policy"),
    "edited": ("text_edited",),
    "rejected": ("reviewer_rejected", "verdict_contradicts_label", "empty_text", "no_reasoning"),
    "unreviewed": ("not_in_export", "not_annotated", "skipped"),
}
_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)
_ANSWER = re.compile(r"<answer>.*?</answer>", re.DOTALL)
_PREFIX = re.compile(r"^\s*this is an? (real|fake) image\.\s*", re.IGNORECASE)


def normalise_text(text: str) -> str:
    """Unify line endings and trim surrounding whitespace."""
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def extract_reasoning(text: str) -> str:
    """The reasoning inside a reviewer's text: the `<think>` content if any, without
    `<answer>` blocks and without a leading "This is a real/fake image." sentence."""
    text = normalise_text(text)
    match = _THINK.search(text)
    if match:
        text = match.group(1).strip()
    text = _ANSWER.sub(" ", text).strip()
    return _PREFIX.sub("", text, count=1).strip()


def has_reasoning(text: str, min_chars: int) -> bool:
    """False for a bare verdict (`fake`, `Real!`) or a text under `min_chars` characters."""
    bare = re.sub(r"[\W_]+", "", text).casefold()
    return len(text) >= min_chars and bare not in LABEL_NAMES.values()


def check_tasks(
    parsed: ParsedExport,
    queue: pd.DataFrame,
    fingerprint: str,
    data_root: str | Path,
    cfg: ReviewConfig,
) -> None:
    """Refuse an export that is not a review of this queue.

    Raises:
        InputError: a task has another queue's fingerprint, an unknown sample_id, or an image
            reference that is outside the data root or not the queued image (the message names
            the task).
    """
    paths = dict(zip(queue["sample_id"], queue["path"], strict=True))
    for task in parsed.tasks:
        if task.fingerprint != fingerprint:
            raise InputError(
                f"{parsed.path}: {task.where}: queue_fingerprint {task.fingerprint[:12]}... is "
                f"not this queue's ({fingerprint[:12]}...): the export was made from a different "
                "queue. Import it with the queue it came from, or review the current queue"
            )
        if task.sample_id not in paths:
            raise InputError(
                f"{parsed.path}: {task.where}: sample_id {task.sample_id!r} is not in the queue"
            )
        try:
            rel = parse_image_reference(task.image, cfg)
            target = resolve_within(data_root, rel)
        except PathEscapeError as exc:
            raise InputError(
                f"{parsed.path}: {task.where}: image reference refused: {exc}"
            ) from None
        except InputError as exc:
            raise InputError(f"{parsed.path}: {task.where}: {exc}") from None
        if target != resolve_within(data_root, paths[task.sample_id]):
            raise InputError(
                f"{parsed.path}: {task.where}: image {rel!r} is not the queued image "
                f"{paths[task.sample_id]!r} of sample {task.sample_id}"
            )


def _judge(ann: Annotation, label: int, queued: str, cfg: ReviewConfig) -> tuple[str, str, str]:
    """(outcome, reason, final text) of the winning annotation."""
    if ann.decision == "reject":
        return "rejected", "reviewer_rejected", ""
    if ann.verdict is not None and ann.verdict != LABEL_NAMES[int(label)]:
        return "rejected", "verdict_contradicts_label", ""
    if ann.text is None or not ann.text.strip():
        return "rejected", "empty_text", ""
    if normalise_text(ann.text) == normalise_text(queued):
        return "accepted", "unchanged", queued
    reasoning = extract_reasoning(ann.text)
    if not has_reasoning(reasoning, cfg.min_text_chars):
        return "rejected", "no_reasoning", ""
    if reasoning == normalise_text(queued):
        return "accepted", "unchanged", queued
    return "edited", "text_edited", reasoning


def _decide_item(row: Any, tasks: list[ExportTask], cfg: ReviewConfig) -> dict[str, Any]:
    item = {
        "sample_id": row.sample_id,
        "task_ids": [t.task_id for t in tasks],
        "annotation_id": None,
        "superseded": [],
        "cancelled": 0,
        "comment": None,
        "text": None,
    }
    annotations = [a for t in tasks for a in t.annotations]
    done = sorted((a for a in annotations if not a.cancelled), key=lambda a: a.order)
    item["cancelled"] = sum(a.cancelled for a in annotations)
    if not tasks:
        return {**item, "outcome": "unreviewed", "reason": "not_in_export"}
    if not done:
        reason = "skipped" if annotations else "not_annotated"
        return {**item, "outcome": "unreviewed", "reason": reason}
    winner = done[-1]
    outcome, reason, text = _judge(winner, row.label, row.text, cfg)
    return {
        **item,
        "outcome": outcome,
        "reason": reason,
        "annotation_id": winner.annotation_id,
        "superseded": [a.annotation_id for a in done[:-1]],
        "comment": winner.comment,
        "text": text or None,
    }


def decide_outcomes(parsed: ParsedExport, queue: pd.DataFrame, cfg: ReviewConfig) -> list[dict]:
    """One outcome record per queue item, in queue order (see the module rules)."""
    by_sample: dict[str, list[ExportTask]] = {}
    for task in parsed.tasks:
        by_sample.setdefault(task.sample_id, []).append(task)
    return [
        _decide_item(row, by_sample.get(row.sample_id, []), cfg)
        for row in queue.itertuples(index=False)
    ]


def auto_outcomes(queue: pd.DataFrame) -> list[dict]:
    """The unattended policy: every pre-filtered queue item is accepted as queued."""
    return [
        {
            "sample_id": row.sample_id,
            "task_ids": [],
            "annotation_id": None,
            "superseded": [],
            "cancelled": 0,
            "comment": None,
            "text": row.text,
            "outcome": "accepted",
            "reason": "auto_policy",
        }
        for row in queue.itertuples(index=False)
    ]


def summarise_outcomes(items: list[dict]) -> dict[str, Any]:
    """Counts per outcome and per reason (every known name present), plus duplicates."""
    outcomes = Counter(i["outcome"] for i in items)
    reasons = Counter((i["outcome"], i["reason"]) for i in items)
    return {
        "counts": {o: int(outcomes.get(o, 0)) for o in OUTCOMES},
        "reasons": {o: {r: int(reasons.get((o, r), 0)) for r in REASONS[o]} for o in OUTCOMES},
        "duplicate_tasks": [
            {"sample_id": i["sample_id"], "task_ids": i["task_ids"]}
            for i in items
            if len(i["task_ids"]) > 1
        ],
        "superseded_annotations": sum(len(i["superseded"]) for i in items),
        "cancelled_annotations": sum(i["cancelled"] for i in items),
    }
