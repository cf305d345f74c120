"""Alignment data: the pairs table grouped by image, per-epoch text sampling, and the datasets.

`pairs.parquet` has one row per reviewed sample, so an image usually has several texts (several
questions, seeds, temperatures). Each epoch visits every image once and pairs it with one of its
texts drawn at random (seeded by seed and epoch): an image never meets itself twice in a batch,
where its second copy would be a false negative of the contrastive loss, and over the epochs the
image still sees the diversity of its texts.

Images are decoded once up front (`ImagePixels.check`); one that cannot be decoded is recorded
with a reason (and its pairs dropped) instead of failing mid-epoch. The transform is fixed, so the
resized and cropped pixels of that one decode are kept as uint8 (within `align.image_cache_mb`)
and every epoch and validation pass reuses them instead of decoding each file again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from realign_pipeline.config.align import TextVariant
from realign_pipeline.errors import InputError, MissingInputError
from realign_pipeline.images import ImageRejected, load_image
from realign_pipeline.manifest import image_path

logger = logging.getLogger(__name__)

PAIRS_COLUMNS = ("sample_id", "image_id", "path", "label", "generator", "outcome")
TEXT_VARIANTS = get_args(TextVariant)


def text_column(variant: str) -> str:
    """The pairs.parquet column holding the alignment text of `variant`."""
    if variant not in TEXT_VARIANTS:
        raise ValueError(f"unknown text variant {variant!r}; allowed: {', '.join(TEXT_VARIANTS)}")
    return f"text_{variant}"


def read_pairs(path: Path, variant: str, *, needs_text: bool) -> pd.DataFrame:
    """Read pairs.parquet and check its columns, labels and the chosen text column.

    Raises:
        MissingInputError: no such file.
        InputError: missing columns, bad labels, an image with two labels, or null texts in the
            chosen variant's column (e.g. caption variants without captions).
    """
    if not path.is_file():
        raise MissingInputError(f"pairs table not found: {path} (run `realign review import`)")
    df = pd.read_parquet(path)
    column = text_column(variant)
    wanted = [*PAIRS_COLUMNS, column] if needs_text else list(PAIRS_COLUMNS)
    missing = [c for c in wanted if c not in df.columns]
    if missing:
        raise InputError(f"pairs table {path}: missing columns {missing}")
    if df.empty:
        raise InputError(f"pairs table {path} has no rows; nothing to align")
    bad = sorted(set(df["label"].unique()) - {0, 1})
    if bad:
        raise InputError(f"pairs table {path}: labels must be 0 or 1, found {bad}")
    if needs_text and df[column].isna().any():
        n_null = int(df[column].isna().sum())
        raise InputError(
            f"pairs table {path}: align.text_variant={variant!r} needs column {column!r}, which is "
            f"null in {n_null} of {len(df)} rows (caption variants need `realign sample --task "
            "caption` before review import); choose another align.text_variant"
        )
    conflicts = df.groupby("image_id")["label"].nunique()
    if (conflicts > 1).any():
        raise InputError(
            f"pairs table {path}: images with both labels: "
            f"{list(conflicts[conflicts > 1].index[:5])}"
        )
    return df.sort_values(["image_id", "sample_id"], kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class ImageSet:
    """Unique images (sorted by image_id) with their texts.

    Attributes:
        image_ids, rel_paths, paths, labels, generators: one entry per image (`rel_paths` as in
            the table, `paths` resolved under the data root).
        texts: the unique texts (sorted); rows of the embedding matrix.
        text_ids: for each image, indices into `texts` of its texts (empty without text).
    """

    image_ids: list[str]
    rel_paths: list[str]
    paths: list[Path]
    labels: list[int]
    generators: list[str]
    texts: list[str]
    text_ids: list[list[int]]


def group_pairs(df: pd.DataFrame, data_root: Path, column: str | None) -> ImageSet:
    """Group pairs rows by image; `column` None means no text is used (bce_only)."""
    texts = sorted(df[column].unique().tolist()) if column else []
    index = {t: i for i, t in enumerate(texts)}
    first = df.drop_duplicates("image_id").reset_index(drop=True)
    if column:
        per_image = df.groupby("image_id", sort=True)[column].apply(list)
        text_ids = [sorted({index[t] for t in per_image[i]}) for i in first["image_id"]]
    else:
        text_ids = [[] for _ in range(len(first))]
    return ImageSet(
        image_ids=first["image_id"].tolist(),
        rel_paths=first["path"].astype(str).tolist(),
        paths=[image_path(data_root, p) for p in first["path"]],
        labels=[int(v) for v in first["label"]],
        generators=first["generator"].astype(str).tolist(),
        texts=texts,
        text_ids=text_ids,
    )


class _FromUint8:
    """uint8 [3, H, W] -> what the rest of the transform (after `ToTensor`) makes of it."""

    def __init__(self, rest: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.rest = rest

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        # ToTensor's own arithmetic, so the result is bit-identical to the full transform
        return self.rest(pixels.to(torch.get_default_dtype()).div(255))


def split_transform(
    transform: Callable[[Any], torch.Tensor],
) -> tuple[Callable[[Any], torch.Tensor], _FromUint8] | None:
    """Split a torchvision `Compose` at its `ToTensor` into (PIL -> uint8, uint8 -> input).

    Composing the two gives exactly `transform`'s output. None when `transform` has no single
    `ToTensor` step (then nothing can be cached as uint8).
    """
    from torchvision import transforms as T

    steps = list(getattr(transform, "transforms", []))
    at = [i for i, step in enumerate(steps) if isinstance(step, T.ToTensor)]
    if not isinstance(transform, T.Compose) or len(at) != 1:
        return None
    return T.Compose([*steps[: at[0]], T.PILToTensor()]), _FromUint8(T.Compose(steps[at[0] + 1 :]))


class ImagePixels:
    """Model inputs of image files: each file decoded once, its pixels kept while they fit.

    `check` decodes every image (the rejection pass) and keeps its resized, cropped uint8
    pixels until `cache_bytes` is used up; calling the object returns the model input of a path,
    from the cache or, past the budget, by decoding the file again. Results are identical
    either way.
    """

    def __init__(self, transform: Callable[[Any], torch.Tensor], cache_bytes: int) -> None:
        self.transform = transform
        split = split_transform(transform) if cache_bytes > 0 else None
        if cache_bytes > 0 and split is None:
            logger.info("image cache off: the transform has no single ToTensor step to split at")
        self._split = split
        self._budget = cache_bytes
        self._full = split is None  # nothing (more) is kept once an image does not fit
        self._used = 0
        self._cache: dict[Path, torch.Tensor] = {}

    @property
    def cached(self) -> int:
        """Number of images whose pixels are kept."""
        return len(self._cache)

    @property
    def cached_bytes(self) -> int:
        """Bytes of pixels kept."""
        return self._used

    def check(self, paths: Sequence[Path], desc: str = "decoding images") -> dict[int, str]:
        """Decode each image once, keeping pixels within budget; {index: reason} of bad ones."""
        rejected: dict[int, str] = {}
        for i, path in enumerate(tqdm(paths, desc=desc, unit="img", disable=None)):
            try:
                image = load_image(path)
            except ImageRejected as exc:
                rejected[i] = exc.reason
                continue
            if not self._full and path not in self._cache:
                self._keep(path, self._split[0](image))
        return rejected

    def _keep(self, path: Path, pixels: torch.Tensor) -> None:
        if self._used + pixels.numel() > self._budget:  # uint8: one byte per element
            self._full = True  # later images are decoded on each use
            logger.info(
                "image cache full at %d images (%.0f MB); the rest are decoded per epoch",
                len(self._cache),
                self._used / 2**20,
            )
            return
        self._cache[path] = pixels
        self._used += pixels.numel()

    def __call__(self, path: Path) -> torch.Tensor:
        pixels = self._cache.get(path)
        if pixels is None:
            return self.transform(load_image(path))
        return self._split[1](pixels)  # kept pixels imply a split transform


def sample_epoch(text_ids: Sequence[Sequence[int]], seed: int, epoch: int) -> list[tuple[int, int]]:
    """(image index, text index) pairs of one epoch: every image once, shuffled, one text each.

    Deterministic in (seed, epoch), so a resumed run sees the same epochs. Text index is -1 for
    images without text.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(text_ids))
    picks = []
    for i in order.tolist():
        options = text_ids[i]
        picks.append((i, int(options[rng.integers(len(options))]) if options else -1))
    return picks


class ImageDataset(Dataset):
    """Model input, label and text index for a list of (image index, text index) items."""

    def __init__(
        self,
        paths: Sequence[Path],
        labels: Sequence[int],
        items: Sequence[tuple[int, int]],
        pixels: Callable[[Path], torch.Tensor],
    ) -> None:
        self.paths = list(paths)
        self.labels = list(labels)
        self.items = list(items)
        self.pixels = pixels

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, int, int]:
        image_idx, text_idx = self.items[idx]
        return self.pixels(self.paths[image_idx]), self.labels[image_idx], text_idx
