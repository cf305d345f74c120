"""The image-text pairs for alignment: `artifacts/pairs/pairs.parquet`.

One row per accepted or edited item, in queue order. Columns:
    sample_id, image_id, path, label (int8, 0 real / 1 fake), generator
    outcome              accepted | edited
    text_source          think | raw_text (the queued text) | reviewer (an expert's edit)
    text_full            "This is a real image." / "This is a fake image." + " " + reasoning
                         (the paper's alignment text, the default variant)
    text_reasoning_only  the reasoning alone
    text_label_caption   label sentence + " " + caption   (null without captions)
    text_caption_only    the caption                      (null without captions)
    text_label_only      the label sentence

Captions come from the caption stage's captions.parquet (`raw_text` column): per image, the
first caption in sample-key order. An image without a caption gets nulls in the caption columns.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import get_args

import pandas as pd

from realign_pipeline.config.align import TextVariant
from realign_pipeline.errors import InputError
from realign_pipeline.review.queue import label_sentence
from realign_pipeline.samples import SAMPLE_KEY

logger = logging.getLogger(__name__)

TEXT_VARIANTS = {variant: f"text_{variant}" for variant in get_args(TextVariant)}
PAIRS_COLUMNS = (
    "sample_id",
    "image_id",
    "path",
    "label",
    "generator",
    "outcome",
    "text_source",
    *TEXT_VARIANTS.values(),
)


def read_captions(path: str | Path | None) -> dict[str, str]:
    """image_id -> caption from captions.parquet; empty when `path` is None or absent.

    Raises:
        InputError: the file exists but lacks the image_id/raw_text columns.
    """
    if path is None or not Path(path).is_file():
        if path is not None:
            logger.info("no captions at %s: caption text variants will be null", path)
        return {}
    df = pd.read_parquet(path)
    missing = [c for c in ("image_id", "raw_text", *SAMPLE_KEY) if c not in df.columns]
    if missing:
        raise InputError(f"captions {path}: missing columns {missing}")
    df = df[df["raw_text"].map(lambda t: isinstance(t, str) and t.strip() != "")]
    df = df.sort_values(list(SAMPLE_KEY), kind="stable").drop_duplicates("image_id")
    return {i: t.strip() for i, t in zip(df["image_id"], df["raw_text"], strict=True)}


def build_pairs(queue: pd.DataFrame, items: list[dict], captions: dict[str, str]) -> pd.DataFrame:
    """Pairs of the accepted and edited items (see the module docstring for the columns)."""
    decided = {i["sample_id"]: i for i in items if i["outcome"] in ("accepted", "edited")}
    rows = []
    for row in queue.itertuples(index=False):
        item = decided.get(row.sample_id)
        if item is None:
            continue
        sentence = label_sentence(row.label)
        reasoning = item["text"]
        caption = captions.get(row.image_id)
        rows.append(
            {
                "sample_id": row.sample_id,
                "image_id": row.image_id,
                "path": row.path,
                "label": int(row.label),
                "generator": str(row.generator),
                "outcome": item["outcome"],
                "text_source": "reviewer" if item["outcome"] == "edited" else row.text_source,
                "text_full": f"{sentence} {reasoning}",
                "text_reasoning_only": reasoning,
                "text_label_caption": f"{sentence} {caption}" if caption else None,
                "text_caption_only": caption,
                "text_label_only": sentence,
            }
        )
    pairs = pd.DataFrame(rows, columns=list(PAIRS_COLUMNS))
    pairs["label"] = pairs["label"].astype("int8")
    for column in PAIRS_COLUMNS:
        if column != "label":
            pairs[column] = pairs[column].astype(object)
    return pairs


def pairs_to_arrow(pairs: pd.DataFrame) -> object:
    """The pairs as a pyarrow Table with a fixed schema (text columns stay strings when null)."""
    import pyarrow as pa

    fields = [(c, pa.int8() if c == "label" else pa.string()) for c in PAIRS_COLUMNS]
    return pa.Table.from_pandas(pairs, schema=pa.schema(fields), preserve_index=False)
