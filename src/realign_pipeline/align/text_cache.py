"""Text-embedding cache: the frozen text tower runs once per unique text, never per step.

Because the text tower is frozen, a text's embedding never changes during training. The cache is
one safetensors file per model identity (`<sha256(model_key)[:16]>.safetensors`) whose tensor
names are the sha256 of each text; its metadata records the model key, so a file of another model
is never mixed in. A rerun (resume, ablation over epochs) only encodes texts it has not seen.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from realign_pipeline.atomic import atomic_path

logger = logging.getLogger(__name__)


def text_hash(text: str) -> str:
    """sha256 hex of the UTF-8 text: the cache key of one text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_file(cache_dir: Path, model_key: str) -> Path:
    """The cache file of one model identity."""
    return cache_dir / f"{hashlib.sha256(model_key.encode()).hexdigest()[:16]}.safetensors"


@torch.no_grad()
def encode_texts(
    model: nn.Module,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    batch_size: int,
    device: torch.device,
) -> torch.Tensor:
    """L2-normalised text embeddings[N, D] from a CLIP's text tower (float32, on CPU).

    Texts longer than the tower's context are truncated by open_clip's tokenizer (CLIP: 77
    tokens), as in CLIP training.
    """
    chunks = []
    starts = range(0, len(texts), batch_size)
    for start in tqdm(starts, desc="text embeddings", unit="batch", disable=None):
        tokens = tokenizer(list(texts[start : start + batch_size])).to(device)
        feats = model.encode_text(tokens, normalize=True)
        chunks.append(feats.float().cpu())
    if not chunks:
        return torch.zeros(0, 0)
    return torch.cat(chunks)


def _read_cache(path: Path, model_key: str) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        return {}
    try:
        with safe_open(str(path), "pt") as handle:
            if (handle.metadata() or {}).get("model_key") != model_key:
                logger.warning("Text cache %s belongs to another model; rebuilding it", path)
                return {}
            return {name: handle.get_tensor(name) for name in handle.keys()}
    except SafetensorError as exc:
        logger.warning("Text cache %s is unreadable (%s); rebuilding it", path, exc)
        return {}


def get_text_embeddings(
    model: nn.Module,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    model_key: str,
    cache_dir: Path | None,
    batch_size: int,
    device: torch.device,
) -> tuple[torch.Tensor, int]:
    """Embeddings[N, D] of `texts` (row i for texts[i]), encoding only texts not yet cached.

    Returns:
        (embeddings, number of texts that had to be encoded now).
    """
    from safetensors.torch import save_file

    keys = [text_hash(t) for t in texts]
    path = cache_file(cache_dir, model_key) if cache_dir is not None else None
    cached = _read_cache(path, model_key) if path is not None else {}
    missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in cached}.items())
    if missing:
        fresh = encode_texts(
            model, tokenizer, [t for _, t in missing], batch_size=batch_size, device=device
        )
        cached.update({k: fresh[i].clone() for i, (k, _) in enumerate(missing)})
        if path is not None:
            with atomic_path(path) as tmp:
                save_file(cached, str(tmp), metadata={"model_key": model_key})
    logger.info(
        "Text embeddings: %d texts, %d encoded now, %d from cache",
        len(set(keys)),
        len(missing),
        len(set(keys)) - len(missing),
    )
    if not keys:
        return torch.zeros(0, 0), 0
    return torch.stack([cached[k] for k in keys]), len(missing)
