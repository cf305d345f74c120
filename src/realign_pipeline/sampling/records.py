"""Rows of the sample tables and the metrics computed from them."""

from __future__ import annotations

from typing import Any, Literal

import pandas as pd

from realign_pipeline.manifest import LABEL_NAMES
from realign_pipeline.reasoning import parse_completion
from realign_pipeline.sampling.backend import Generation
from realign_pipeline.sampling.plan import Prompt

__all__ = ["Task", "compute_metrics", "make_rejected_row", "make_row"]

Task = Literal["reasoning", "caption"]


def _base(prompt: Prompt, seed: int, temperature: float, model_id: str) -> dict[str, Any]:
    return {
        "image_id": prompt.image_id,
        "question_id": prompt.question_id,
        "seed": int(seed),
        "temperature": float(temperature),
        "path": prompt.path,
        "label": int(prompt.label),
        "generator": prompt.generator,
        "model_id": model_id,
    }


def make_row(
    prompt: Prompt,
    seed: int,
    temperature: float,
    generation: Generation,
    *,
    model_id: str,
    task: Task,
) -> dict[str, Any]:
    """A shard row for one completion; reasoning text is parsed, captions are kept as text."""
    row = _base(prompt, seed, temperature, model_id)
    row.update(raw_text=generation.text, n_tokens=generation.n_tokens, error=None)
    if task == "caption":
        row.update(think=None, answer=None, format_ok=False, correct=False)
        return row
    parsed = parse_completion(generation.text)
    row.update(
        think=parsed.think,
        answer=parsed.answer,
        format_ok=parsed.format_ok,
        correct=parsed.answer is not None and parsed.answer == LABEL_NAMES[prompt.label],
    )
    return row


def make_rejected_row(
    prompt: Prompt, seed: int, temperature: float, *, model_id: str, reason: str
) -> dict[str, Any]:
    """A shard row recording that this key could not be generated (its image was rejected)."""
    row = _base(prompt, seed, temperature, model_id)
    row.update(
        raw_text=None,
        think=None,
        answer=None,
        format_ok=False,
        correct=False,
        n_tokens=0,
        error=reason,
    )
    return row


def compute_metrics(samples: pd.DataFrame, task: Task) -> dict[str, float]:
    """Stage metrics over the merged rows.

    format_rate: share of completions in the exact <think>..</think><answer>..</answer> form;
    answer_rate: share with a parseable real/fake answer; accuracy: share whose answer matches
    the label (an unanswered completion counts as wrong). Throughput is the caller's: it is
    measured per call, never stored in the rows.
    """
    n = len(samples)
    metrics = {
        "mean_n_tokens": float(samples["n_tokens"].mean()) if n else 0.0,
        "empty_rate": float((samples["raw_text"].str.strip() == "").mean()) if n else 0.0,
    }
    if task == "reasoning":
        metrics.update(
            format_rate=float(samples["format_ok"].mean()) if n else 0.0,
            answer_rate=float(samples["answer"].notna().mean()) if n else 0.0,
            accuracy=float(samples["correct"].mean()) if n else 0.0,
        )
    return metrics
