"""The pre-review policy: which sampled completions go to the experts' queue.

Pure functions over DataFrames. Every sample read ends either in the queue or in the dropped
table with one `drop_reason` (the first rule that applies, in this order):

    not_in_manifest    the sample's image_id is not in the train manifest
    path_outside_root  the manifest path resolves outside the data root
    image_missing      the image file is gone
    bad_format         format_ok is false and `drop_bad_format` is on
    incorrect          the parsed answer is not the label and `drop_incorrect` is on
    no_think           no `<think>` text and `fallback_raw_text` is off
    empty_text         the text is shorter than `min_text_chars` after trimming
    duplicate_text     the same text (trimmed) was already queued for this image
    over_cap           the image already has `max_per_image` items (correct, well-formed
                       samples first, then by sample key)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from realign_pipeline.config.review import ReviewConfig
from realign_pipeline.errors import InputError
from realign_pipeline.paths import is_within
from realign_pipeline.review.queue import compute_sample_id
from realign_pipeline.samples import REQUIRED_SAMPLE_COLUMNS, SAMPLE_KEY

logger = logging.getLogger(__name__)

DROP_REASONS = (
    "not_in_manifest",
    "path_outside_root",
    "image_missing",
    "bad_format",
    "incorrect",
    "no_think",
    "empty_text",
    "duplicate_text",
    "over_cap",
)


def check_sample_columns(samples: pd.DataFrame, source: str) -> None:
    """Raise InputError naming the missing contract columns of samples.parquet."""
    missing = [c for c in REQUIRED_SAMPLE_COLUMNS if c not in samples.columns]
    if missing:
        raise InputError(
            f"samples {source}: missing columns {missing}; expected the sample stage's columns "
            f"{list(REQUIRED_SAMPLE_COLUMNS)}"
        )


def _join_manifest(samples: pd.DataFrame, manifest: pd.DataFrame) -> pd.DataFrame:
    """Take path/label/generator from the manifest (the source of truth) by image_id."""
    columns = ["path", "label", "generator"]
    ref = manifest.drop_duplicates("image_id").set_index("image_id")[columns]
    df = samples.join(ref, on="image_id", rsuffix="_manifest")
    df["in_manifest"] = df["path_manifest"].notna()
    for column in columns:  # rows missing from the manifest keep the sample's own values
        df[column] = df[f"{column}_manifest"].where(df["in_manifest"], df[column])
    df["label"] = df["label"].astype("int8")
    return df.drop(columns=[f"{c}_manifest" for c in columns])


def _pick_text(df: pd.DataFrame, fallback_raw_text: bool) -> pd.DataFrame:
    think = df["think"]
    has_think = think.map(lambda t: isinstance(t, str) and t.strip() != "")
    raw = df["raw_text"].map(lambda t: t if isinstance(t, str) else "")
    df["text_source"] = has_think.map({True: "think", False: "raw_text"})
    df["text"] = [
        (t.strip() if h else r.strip()) for t, h, r in zip(think, has_think, raw, strict=True)
    ]
    df["has_think"] = has_think
    if not fallback_raw_text:
        df.loc[~has_think, "text"] = ""
    return df


def _first_reasons(df: pd.DataFrame, data_root: Path, cfg: ReviewConfig) -> pd.Series:
    """The first per-row drop reason that applies before de-duplication ("" = keep)."""
    reason = pd.Series("", index=df.index, dtype=object)

    def mark(mask: pd.Series, name: str) -> None:
        reason[(reason == "") & mask.astype(bool)] = name

    mark(~df["in_manifest"], "not_in_manifest")
    # several samples share an image: check each distinct path once
    paths = {p for p in df["path"] if isinstance(p, str)}
    inside = {p: is_within(data_root, p) for p in paths}
    exists = {p: inside[p] and (data_root / p).is_file() for p in paths}
    mark(~df["path"].map(lambda p: inside.get(p, False)).astype(bool), "path_outside_root")
    mark(~df["path"].map(lambda p: exists.get(p, False)).astype(bool), "image_missing")
    if cfg.drop_bad_format:
        mark(~df["format_ok"].fillna(False).astype(bool), "bad_format")
    if cfg.drop_incorrect:
        mark(~df["correct"].fillna(False).astype(bool), "incorrect")
    if not cfg.fallback_raw_text:
        mark(~df["has_think"], "no_think")
    mark(df["text"].str.len() < cfg.min_text_chars, "empty_text")
    return reason


def _dedupe_and_cap(df: pd.DataFrame, reason: pd.Series, cfg: ReviewConfig) -> pd.Series:
    """Mark duplicate texts per image and items over the per-image cap, in preference order."""
    live = df[reason == ""].copy()
    good = live["correct"].fillna(False).astype(int) + live["format_ok"].fillna(False).astype(int)
    live["_pref"] = -good
    live = live.sort_values(["image_id", "_pref", *SAMPLE_KEY[1:]], kind="stable")
    if cfg.drop_duplicate_texts:
        dup = live.duplicated(["image_id", "text"])
        reason[dup[dup].index] = "duplicate_text"
        live = live[~dup]
    rank = live.groupby("image_id").cumcount()
    over = rank >= cfg.max_per_image
    reason[over[over].index] = "over_cap"
    return reason


def apply_policy(
    samples: pd.DataFrame, manifest: pd.DataFrame, data_root: str | Path, cfg: ReviewConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split samples into the queue items and the dropped rows.

    Args:
        samples: samples.parquet rows (contract columns).
        manifest: the train manifest (path, label and generator are taken from it).
        data_root: root that manifest paths are relative to.
        cfg: the review section.

    Returns:
        (kept, dropped): kept has `sample_id`, `text`, `text_source` added and is sorted by the
        sample key; dropped has the sample columns plus `sample_id` and `drop_reason`.
    """
    data_root = Path(data_root)
    df = samples.reset_index(drop=True).copy()
    df["sample_id"] = [
        compute_sample_id(*key) for key in df[list(SAMPLE_KEY)].itertuples(index=False)
    ]
    df = _pick_text(_join_manifest(df, manifest), cfg.fallback_raw_text)
    reason = _first_reasons(df, data_root, cfg)
    reason = _dedupe_and_cap(df, reason, cfg)
    df["drop_reason"] = reason
    helper = ["in_manifest", "has_think", "drop_reason"]
    kept = df[reason == ""].drop(columns=helper).sort_values(list(SAMPLE_KEY), kind="stable")
    dropped = df[reason != ""].drop(columns=["in_manifest", "has_think"])
    dropped = dropped.sort_values(list(SAMPLE_KEY), kind="stable")
    logger.info(
        "review policy: %d samples read, %d queued, %d dropped", len(df), len(kept), len(dropped)
    )
    return kept.reset_index(drop=True), dropped.reset_index(drop=True)


def count_reasons(reasons: pd.Series, names: tuple[str, ...] = DROP_REASONS) -> dict[str, int]:
    """Counts per reason, every known reason present (0 when unused)."""
    counts = reasons.value_counts().to_dict()
    return {name: int(counts.get(name, 0)) for name in names}


def require_min_items(kept: int, minimum: int, counts: Mapping[str, int], what: str) -> None:
    """Fail when fewer than `minimum` items remain, naming the counts by reason.

    Raises:
        InputError: `kept < minimum`.
    """
    if kept >= minimum:
        return
    detail = ", ".join(f"{k}={v}" for k, v in counts.items() if v) or "none"
    raise InputError(
        f"{what}: only {kept} item(s) left, review.min_pairs={minimum} needed; counts by reason: "
        f"{detail}. Loosen the policy (review.drop_incorrect, review.drop_bad_format, "
        "review.fallback_raw_text, review.max_per_image), sample more, or lower review.min_pairs"
    )
