"""Pairs reading, per-epoch text sampling (one text per image per epoch), decode-once pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from open_clip import image_transform
from PIL import Image

from realign_pipeline.align import data as align_data
from realign_pipeline.align.data import (
    ImagePixels,
    group_pairs,
    read_pairs,
    sample_epoch,
    split_transform,
)
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


@pytest.mark.parametrize("resize_mode", ["shortest", "squash", "longest"])
def test_split_transform_is_bit_identical_to_the_transform(resize_mode: str) -> None:
    transform = image_transform(
        48, is_train=False, mean=(0.5, 0.4, 0.3), std=(0.2, 0.3, 0.25), resize_mode=resize_mode
    )
    to_uint8, finish = split_transform(transform)
    rng = np.random.default_rng(0)
    for size in ((64, 40), (31, 97), (48, 48)):
        image = Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8))
        kept = to_uint8(image)
        assert kept.dtype == torch.uint8 and kept.shape == (3, 48, 48)
        assert torch.equal(finish(kept), transform(image))


def test_split_transform_refuses_what_it_cannot_split() -> None:
    assert split_transform(lambda image: image) is None


def _write_images(root: Path, n: int) -> list[Path]:
    rng = np.random.default_rng(1)
    paths = []
    for i in range(n):
        path = root / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def test_image_pixels_decode_each_file_once_within_budget(tmp_path: Path, monkeypatch) -> None:
    paths = _write_images(tmp_path, 4)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    paths.append(tmp_path / "broken.png")
    transform = image_transform(32, is_train=False)
    decodes: list[Path] = []
    real_load = align_data.load_image

    def counting_load(path, *args, **kwargs):
        decodes.append(Path(path))
        return real_load(path, *args, **kwargs)

    monkeypatch.setattr(align_data, "load_image", counting_load)
    reference = ImagePixels(transform, cache_bytes=0)  # decodes on every call
    cached = ImagePixels(transform, cache_bytes=3 * 32 * 32 * 3)  # room for three images
    assert set(reference.check(paths)) == {4}
    assert cached.check(paths) == {4: reference.check(paths)[4]}
    assert cached.cached == 3 and cached.cached_bytes == 3 * 32 * 32 * 3
    decodes.clear()
    for _epoch in range(3):
        for path in paths[:4]:
            assert torch.equal(cached(path), transform(real_load(path)))
    # only the image past the budget is decoded again, once per epoch
    assert decodes == [paths[3]] * 3
    decodes.clear()
    reference(paths[0])
    assert decodes == [paths[0]]
