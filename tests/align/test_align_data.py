"""Pairs reading and per-epoch text sampling (one text per image per epoch)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from realign_pipeline.align.data import group_pairs, read_pairs, sample_epoch
from realign_pipeline.errors import InputError, MissingInputError


def test_sample_epoch_visits_each_image_once_with_one_of_its_texts():
    text_ids = [[0, 1], [2], [3, 4, 5], [6, 7]]
    items = sample_epoch(text_ids, seed=3, epoch=0)
    assert sorted(i for i, _ in items) == [0, 1, 2, 3]
    assert all(t in text_ids[i] for i, t in items)
    assert sample_epoch(text_ids, seed=3, epoch=0) == items  # deterministic
    epochs = [sample_epoch(text_ids, seed=3, epoch=e) for e in range(6)]
    assert len({tuple(e) for e in epochs}) > 1  # order and texts change across epochs


def test_sample_epoch_without_texts_marks_minus_one():
    assert sorted(sample_epoch([[], []], seed=0, epoch=0)) == [(0, -1), (1, -1)]


def test_group_pairs_collects_texts_per_image(align_inputs):
    df = read_pairs(align_inputs["pairs"], "full", needs_text=True)
    images = group_pairs(df, align_inputs["data_root"], "text_full")
    assert len(images.image_ids) == 8
    assert images.image_ids == sorted(images.image_ids)
    assert len(images.texts) == 16
    assert all(len(ids) == 2 for ids in images.text_ids)
    assert all(p.is_file() for p in images.paths)


def test_read_pairs_null_caption_column_names_variant(align_inputs, tmp_path: Path):
    df = pd.read_parquet(align_inputs["pairs"])
    df["text_caption_only"] = None
    path = tmp_path / "nocap.parquet"
    df.to_parquet(path, index=False)
    with pytest.raises(InputError, match="text_variant='caption_only'.*text_caption_only"):
        read_pairs(path, "caption_only", needs_text=True)
    assert len(read_pairs(path, "full", needs_text=True)) == len(df)


def test_read_pairs_refuses_image_with_two_labels(align_inputs, tmp_path: Path):
    df = pd.read_parquet(align_inputs["pairs"])
    df.loc[1, "label"] = 1 - df.loc[0, "label"]  # rows 0 and 1 are the same image
    path = tmp_path / "conflict.parquet"
    df.to_parquet(path, index=False)
    with pytest.raises(InputError, match="both labels"):
        read_pairs(path, "full", needs_text=True)


def test_read_pairs_missing_file_names_producer(tmp_path: Path):
    with pytest.raises(MissingInputError, match="review import"):
        read_pairs(tmp_path / "none.parquet", "full", needs_text=True)
