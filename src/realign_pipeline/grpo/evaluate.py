"""Greedy decoding on held-out images: format rate, answer rate and answer accuracy.

One `generate` call per batch with `do_sample=False`, so the figures are deterministic for a
model and a manifest. Accuracy counts an image as correct only when its parsed answer (see
`realign_pipeline.reasoning`) equals its label; an unparseable answer is wrong.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from realign_pipeline.images import load_image
from realign_pipeline.manifest import LABEL_NAMES, image_path
from realign_pipeline.prompts import PAPER_QUESTION, build_messages
from realign_pipeline.reasoning import parse_completion

__all__ = ["evaluate_greedy", "generate_greedy"]

logger = logging.getLogger(__name__)


def generate_greedy(
    model: Any,
    processor: Any,
    images: list[Any],
    *,
    system_prompt: str | None,
    max_new_tokens: int,
) -> list[str]:
    """Greedy completions (special tokens removed) for one batch of images."""
    import torch

    text = processor.apply_chat_template(
        build_messages(PAPER_QUESTION, system_prompt), add_generation_prompt=True, tokenize=False
    )
    inputs = processor(
        text=[text] * len(images),
        images=images,
        return_tensors="pt",
        padding=True,
        padding_side="left",  # generation continues from the right end of every row
    ).to(model.device)
    with torch.inference_mode():
        out = model.generate(
            **inputs, max_new_tokens=max_new_tokens, do_sample=False, top_k=None, top_p=None
        )
    new_tokens = out[:, inputs["input_ids"].shape[1] :]
    return processor.batch_decode(new_tokens, skip_special_tokens=True)


def evaluate_greedy(
    model: Any,
    processor: Any,
    rows: pd.DataFrame,
    data_root: str | Path,
    *,
    system_prompt: str | None,
    max_new_tokens: int,
    batch_size: int,
) -> tuple[dict[str, float], pd.DataFrame]:
    """Format rate, answer rate and accuracy of greedy answers on `rows` (a manifest subset).

    Returns:
        `(metrics, predictions)`: metrics `format_rate`, `answer_rate`, `accuracy`, `n`; one
        prediction row per image (image_id, label, completion, answer, format_ok, correct).
    """
    was_training = model.training
    model.eval()
    records = []
    starts = range(0, len(rows), batch_size)
    for start in tqdm(starts, desc="greedy eval", disable=None):
        batch = rows.iloc[start : start + batch_size]
        images = [load_image(image_path(data_root, rel)) for rel in batch["path"]]
        texts = generate_greedy(
            model, processor, images, system_prompt=system_prompt, max_new_tokens=max_new_tokens
        )
        for row, text in zip(batch.itertuples(), texts, strict=True):
            parsed = parse_completion(text)
            truth = LABEL_NAMES[int(row.label)]
            records.append(
                {
                    "image_id": row.image_id,
                    "label": int(row.label),
                    "completion": text,
                    "answer": parsed.answer,
                    "format_ok": parsed.format_ok,
                    "correct": parsed.answer == truth,
                }
            )
    model.train(was_training)
    predictions = pd.DataFrame(records)
    metrics = {
        "n": float(len(predictions)),
        "format_rate": float(predictions["format_ok"].mean()),
        "answer_rate": float(predictions["answer"].notna().mean()),
        "accuracy": float(predictions["correct"].mean()),
    }
    logger.info("greedy eval on %d images: %s", len(predictions), metrics)
    return metrics, predictions
