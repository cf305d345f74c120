"""Training rows from a manifest, and the datasets TRL's trainers read.

GRPO dataset (TRL's VLM format): each example is `{"prompt": [system, user(image, question)],
"image": PIL image, "label": 0|1, "image_id": str}`. Images are decoded lazily, when the trainer
indexes an example (a `datasets` transform), so the table in memory holds only paths. The
`label` and `image_id` columns reach the reward functions as keyword arguments.

Rows whose file is missing or whose path escapes the data root are rejected up front with a
reason (counted, never silently dropped); a file that exists but no longer decodes (changed
after ingest) stops training with an error naming it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from realign_pipeline.errors import InputError
from realign_pipeline.images import ImageRejected, load_image
from realign_pipeline.manifest import LABEL_NAMES, image_path, read_manifest
from realign_pipeline.paths import PathEscapeError
from realign_pipeline.prompts import COLD_START_REASONING, PAPER_QUESTION, build_messages

__all__ = [
    "create_grpo_dataset",
    "create_sft_dataset",
    "load_rows",
    "select_balanced",
]

logger = logging.getLogger(__name__)

_KEEP = ["image_id", "path", "label", "generator"]


def select_balanced(rows: pd.DataFrame, limit: int | None, seed: int) -> pd.DataFrame:
    """At most `limit` rows, alternating labels (seeded shuffle within each label).

    The order is deterministic for a seed; with `limit=None` every row is kept, shuffled.
    """
    groups = [
        g.sort_values("image_id").sample(frac=1.0, random_state=seed + int(label))
        for label, g in rows.groupby("label", sort=True)
    ]
    order = pd.concat([g.assign(_rank=range(len(g))) for g in groups])
    order = order.sort_values(["_rank", "label"], kind="stable").drop(columns="_rank")
    return order.head(limit) if limit is not None else order


def _rejection(row: Any, data_root: Path) -> str | None:
    try:
        path = image_path(data_root, row.path)
    except PathEscapeError:
        return "path_outside_data_root"
    return None if path.is_file() else "missing_file"


def load_rows(
    manifest: str | Path, data_root: str | Path, *, limit: int | None, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Usable rows of a manifest (both labels required) and the rejected ones with a reason.

    Raises:
        MissingInputError: the manifest does not exist.
        InputError: bad columns, no usable image, or only one class among the usable ones.
    """
    df = read_manifest(manifest, require_both_labels=True)
    reasons = [_rejection(row, Path(data_root)) for row in df.itertuples()]
    ok = pd.Series([r is None for r in reasons], index=df.index)
    rejected = df.loc[~ok, ["image_id", "path"]].assign(reason=[r for r in reasons if r])
    usable = df.loc[ok, _KEEP]
    if rejected.shape[0]:
        logger.warning("%s: %d of %d rows rejected", manifest, len(rejected), len(df))
    if usable.empty:
        raise InputError(
            f"manifest {manifest}: no usable image under data root {data_root} "
            f"({len(rejected)} rejected: {sorted(set(rejected['reason']))}); check --data-root"
        )
    if usable["label"].nunique() < 2:
        present = LABEL_NAMES[int(usable["label"].iloc[0])]
        raise InputError(
            f"manifest {manifest}: usable images are all {present}; GRPO needs real and fake"
        )
    return select_balanced(usable, limit, seed).reset_index(drop=True), rejected


class _LoadImages:
    """`datasets` transform: decode images and attach the prompt (a class, so it pickles)."""

    def __init__(self, data_root: Path, system_prompt: str | None, completion: bool) -> None:
        self.data_root = data_root
        self.system_prompt = system_prompt
        self.completion = completion

    def _image(self, rel: str) -> Any:
        path = image_path(self.data_root, rel)
        try:
            return load_image(path)
        except ImageRejected as exc:
            raise InputError(
                f"image {path} no longer decodes ({exc}); rerun `realign ingest`"
            ) from None

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        n = len(batch["path"])
        out = {
            "prompt": [build_messages(PAPER_QUESTION, self.system_prompt) for _ in range(n)],
            "image": [self._image(rel) for rel in batch["path"]],
            "label": list(batch["label"]),
            "image_id": list(batch["image_id"]),
        }
        if self.completion:
            out["completion"] = [
                _cold_start_completion(label, image_id)
                for label, image_id in zip(batch["label"], batch["image_id"], strict=True)
            ]
        return out


def _cold_start_completion(label: int, image_id: str) -> list[dict[str, Any]]:
    reasoning = COLD_START_REASONING[int(image_id[:8], 16) % len(COLD_START_REASONING)]
    text = f"<think>{reasoning}</think><answer>{LABEL_NAMES[int(label)]}</answer>"
    return [{"role": "assistant", "content": [{"type": "text", "text": text}]}]


def _dataset(rows: pd.DataFrame, data_root: Path, system_prompt: str | None, completion: bool):  # noqa: ANN202
    from datasets import Dataset

    table = Dataset.from_pandas(rows[_KEEP].reset_index(drop=True), preserve_index=False)
    table.set_transform(_LoadImages(Path(data_root), system_prompt, completion))
    return table


def create_grpo_dataset(rows: pd.DataFrame, data_root: str | Path, system_prompt: str | None):  # noqa: ANN201
    """A `datasets.Dataset` of prompt/image/label/image_id examples, images decoded lazily."""
    return _dataset(rows, Path(data_root), system_prompt, completion=False)


def create_sft_dataset(rows: pd.DataFrame, data_root: str | Path, system_prompt: str | None):  # noqa: ANN201
    """Cold-start examples: the GRPO prompt plus a `completion` in the answer format."""
    return _dataset(rows, Path(data_root), system_prompt, completion=True)
