"""Streaming predictions of a detector over one benchmark manifest.

Images are decoded once, perturbed into every condition of the robustness grid, preprocessed
and scored batch by batch through a torch `DataLoader`, so memory is bounded by
`batch_size x n_conditions` images whatever the benchmark size. Each batch's rows go straight to
a sink (the parquet writer). An image that cannot be read, decoded or perturbed is recorded with
its reason in the failure list and counted, never a crash and never silently dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from realign_pipeline.evaluate.perturb import Perturbation, apply_perturbation
from realign_pipeline.evaluate.preprocess import Preprocess
from realign_pipeline.images import ImageRejected, load_image
from realign_pipeline.manifest import image_path
from realign_pipeline.paths import PathEscapeError

__all__ = ["PREDICTION_SCHEMA", "FAILURE_SCHEMA", "ScoreFn", "predict_benchmark"]

logger = logging.getLogger(__name__)

_KEY = [  # the columns of every prediction and failure row
    ("image_id", pa.string()),
    ("benchmark", pa.string()),
    ("generator", pa.string()),
    ("category", pa.string()),
    ("label", pa.int8()),
]
PREDICTION_SCHEMA = pa.schema([*_KEY, ("p_fake", pa.float32()), ("perturbation", pa.string())])
FAILURE_SCHEMA = pa.schema([*_KEY, ("path", pa.string()), ("reason", pa.string())])
_ROW_COLUMNS = ("image_id", "generator", "category", "label", "path")


class ScoreFn(Protocol):
    """What is scored: FloatTensor[B, 3, H, W] -> p_fake FloatTensor[B] (`predict_proba`)."""

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class _Item:
    index: int
    pixels: torch.Tensor | None  # [n_conditions, 3, H, W]
    reason: str


class _BenchmarkImages(Dataset):
    """Manifest rows -> (index, stacked conditions) or a failure reason."""

    def __init__(
        self,
        paths: Sequence[str],
        data_root: Path,
        perturbations: Sequence[Perturbation],
        preprocess: Preprocess,
        max_pixels: int,
    ) -> None:
        self.paths = list(paths)
        self.data_root = data_root
        self.perturbations = list(perturbations)
        self.preprocess = preprocess
        self.max_pixels = max_pixels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> _Item:
        try:
            path = image_path(self.data_root, self.paths[index])
            image = load_image(path, max_pixels=self.max_pixels)
            pixels = torch.stack(
                [self.preprocess(apply_perturbation(image, p)) for p in self.perturbations]
            )
        except ImageRejected as exc:
            return _Item(index, None, exc.reason)
        except PathEscapeError:
            return _Item(index, None, "path_outside_data_root")
        except (OSError, ValueError) as exc:  # Pillow encode/resize errors on odd images
            return _Item(index, None, f"preprocess_failed: {type(exc).__name__}")
        return _Item(index, pixels, "")


def _collate(items: list[_Item]) -> list[_Item]:
    return items


def _score_batch(
    items: list[_Item], score: ScoreFn, device: str
) -> tuple[list[int], np.ndarray | None]:
    """Indices of the decoded items and their p_fake as [n_items, n_conditions]."""
    good = [item for item in items if item.pixels is not None]
    if not good:
        return [], None
    stacked = torch.stack([item.pixels for item in good])  # [B, P, 3, H, W]
    n, n_cond = stacked.shape[:2]
    with torch.inference_mode():
        p_fake = score(stacked.flatten(0, 1).to(device)).float().cpu().numpy()
    return [item.index for item in good], p_fake.reshape(n, n_cond)


def predict_benchmark(
    manifest: pd.DataFrame,
    benchmark: str,
    *,
    score: ScoreFn,
    data_root: Path,
    perturbations: Sequence[Perturbation],
    preprocess: Preprocess,
    batch_size: int,
    num_workers: int,
    device: str,
    max_pixels: int,
    sink: Callable[[pd.DataFrame], Any],
    on_batch: Callable[[int], Any] | None = None,
) -> list[dict]:
    """Score every image of one benchmark in every condition, streaming rows into `sink`.

    Rows are processed in manifest order (the caller sorts it); each batch sends one DataFrame
    with the columns of `PREDICTION_SCHEMA` to `sink`; `on_batch(n)` is called with the number
    of images of each finished batch (scored or failed), for progress reporting.

    Returns:
        The failures: one dict per image that could not be scored (`FAILURE_SCHEMA`'s columns).
    """
    rows = manifest.loc[:, list(_ROW_COLUMNS)].reset_index(drop=True)
    dataset = _BenchmarkImages(rows["path"], data_root, perturbations, preprocess, max_pixels)
    loader = DataLoader(
        dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=_collate
    )
    names = [p.name for p in perturbations]
    failures: list[dict] = []
    for items in tqdm(loader, desc=f"evaluate {benchmark}", unit="batch", disable=None):
        for item in items:
            if item.pixels is None:
                row = rows.iloc[item.index]
                failures.append({**row.to_dict(), "benchmark": benchmark, "reason": item.reason})
        indices, p_fake = _score_batch(items, score, device)
        if on_batch is not None:
            on_batch(len(items))
        if p_fake is None:
            continue
        chosen = rows.iloc[np.repeat(indices, len(names))].reset_index(drop=True)
        batch = chosen.drop(columns="path").assign(
            benchmark=benchmark,
            p_fake=p_fake.reshape(-1).astype(np.float32),
            perturbation=np.tile(names, len(indices)),
        )
        sink(batch.loc[:, PREDICTION_SCHEMA.names])
    if failures:
        logger.warning("%s: %d images could not be scored", benchmark, len(failures))
    return failures
