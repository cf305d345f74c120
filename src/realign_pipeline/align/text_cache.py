"""Text-embedding cache: the frozen text tower runs once per unique text, never per step.

Because the text tower is frozen, a text's embedding never changes during training. Each model
identity has a folder (`<sha256(model_key)[:16]>/`) of append-only chunk files, safetensors only:

    chunk-<time ns>-<pid>.safetensors   embeddings [n, D] float32, text_sha256 [n, 32] uint8;
                                        metadata: model_key

Read in file-name order, the chunks are one [N, D] tensor of the model and, row for row, the index
from text hash to row. A run that meets new texts appends one chunk with only those (nothing is
rewritten), so the cache grows to millions of texts: no file holds one tensor per text (the old
single-file layout hit safetensors' 100 MB header limit at ~0.75M texts). Opening builds a sorted
64-bit hash-prefix index in memory (48 bytes per text) and lookups are vectorised binary searches;
rows are read through memory maps of the chunks, so memory holds the index and the rows asked for.
A chunk of another model or an unreadable one (a copy or disk fault; our writes are atomic) is
deleted with a warning and its texts are encoded again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from realign_pipeline.atomic import atomic_path

logger = logging.getLogger(__name__)

__all__ = ["TextCache", "cache_folder", "encode_texts", "get_text_embeddings", "text_hash"]

EMBEDDINGS = "embeddings"
HASHES = "text_sha256"
CHUNK_BYTES = 64 * 2**20  # embeddings per chunk file, at most (one chunk is read at a time)


def text_hash(text: str) -> str:
    """sha256 hex of the UTF-8 text: the cache key of one text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_folder(cache_dir: Path, model_key: str) -> Path:
    """The chunk folder of one model identity."""
    return cache_dir / hashlib.sha256(model_key.encode()).hexdigest()[:16]


def digests(hashes: Sequence[str] | np.ndarray) -> np.ndarray:
    """sha256 digests as a uint8 [N, 32] array, from hex strings or such an array."""
    if isinstance(hashes, np.ndarray):
        if hashes.dtype != np.uint8 or hashes.ndim != 2 or hashes.shape[1] != 32:
            raise ValueError(f"digests must be uint8 [N, 32], got {hashes.dtype} {hashes.shape}")
        return hashes
    joined = b"".join(bytes.fromhex(h) for h in hashes)
    return np.frombuffer(joined, dtype=np.uint8).reshape(-1, 32)


def _prefix(dig: np.ndarray) -> np.ndarray:
    """The first 8 bytes of each digest as uint64 (the sort key of the index)."""
    return np.ascontiguousarray(dig[:, :8]).view("<u8").reshape(-1)


def _mapped_embeddings(path: Path) -> np.ndarray:
    """The chunk's embeddings tensor as a read-only memory map (safetensors layout: u64 header
    length, JSON header with dtype/shape/data_offsets, then the data), so reading a few rows
    touches only their pages."""
    with open(path, "rb") as handle:
        size = int.from_bytes(handle.read(8), "little")
        entry = json.loads(handle.read(size))[EMBEDDINGS]
    if entry["dtype"] != "F32":
        raise ValueError(f"{path}: embeddings are {entry['dtype']}, expected F32")
    start = 8 + size + entry["data_offsets"][0]
    return np.memmap(path, dtype="<f4", mode="r", offset=start, shape=tuple(entry["shape"]))


class TextCache:
    """Append-only embedding store of one model: lookups by text hash, rows by index."""

    def __init__(self, cache_dir: Path, model_key: str, chunk_bytes: int = CHUNK_BYTES) -> None:
        """Open (or start) the cache of `model_key` under `cache_dir` and build its index."""
        self.folder = cache_folder(Path(cache_dir), model_key)
        self.model_key = model_key
        self.chunk_bytes = chunk_bytes
        self._chunks: list[tuple[Path, int]] = []  # (file, rows), in row order
        parts = [np.zeros((0, 32), np.uint8)]
        self.dim: int | None = None
        for path in sorted(self.folder.glob("chunk-*.safetensors")):
            read = self._read_hashes(path)
            if read is not None:
                parts.append(read)
                self._chunks.append((path, len(read)))
        self._digests = np.concatenate(parts)
        self._starts = np.cumsum([0] + [n for _, n in self._chunks])
        prefix = _prefix(self._digests)
        self._order = np.argsort(prefix, kind="stable")
        self._sorted = prefix[self._order]

    def __len__(self) -> int:
        return len(self._digests)

    def _read_hashes(self, path: Path) -> np.ndarray | None:
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), "np") as handle:
                if (handle.metadata() or {}).get("model_key") != self.model_key:
                    raise ValueError("written for another model")
                dim = handle.get_slice(EMBEDDINGS).get_shape()[1]
                if self.dim is not None and dim != self.dim:
                    raise ValueError(f"embedding size {dim}, other chunks have {self.dim}")
                self.dim = dim
                return handle.get_tensor(HASHES)
        except (SafetensorError, OSError, ValueError, KeyError, IndexError) as exc:
            logger.warning("text cache chunk %s dropped (%s); texts encoded again", path, exc)
            path.unlink(missing_ok=True)
            return None

    def lookup(self, hashes: Sequence[str] | np.ndarray) -> np.ndarray:
        """Row of each hash in the cache's [N, D] tensor, or -1 when absent (int64 [len])."""
        query = digests(hashes)
        rows = np.full(len(query), -1, dtype=np.int64)
        if not len(self) or not len(query):
            return rows
        qprefix = _prefix(query)
        pos = np.searchsorted(self._sorted, qprefix)
        inside = pos < len(self._sorted)
        hit = np.zeros(len(query), dtype=bool)
        hit[inside] = self._sorted[pos[inside]] == qprefix[inside]
        candidates = self._order[pos[hit]]
        same = (self._digests[candidates] == query[hit]).all(axis=1)
        rows[np.flatnonzero(hit)[same]] = candidates[same]
        for i in np.flatnonzero(hit)[~same]:  # 64-bit prefix shared by another text: ~never
            rows[i] = self._scan_equal_prefix(int(pos[i]), query[i])
        return rows

    def _scan_equal_prefix(self, start: int, digest: np.ndarray) -> int:
        end = int(np.searchsorted(self._sorted, self._sorted[start], side="right"))
        for row in self._order[start:end]:
            if (self._digests[row] == digest).all():
                return int(row)
        return -1

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """Embeddings float32 [len(rows), D] of the given rows (memory-mapped, page by page)."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) and (rows.min() < 0 or rows.max() >= len(self)):
            raise IndexError(f"rows outside the cache's {len(self)} entries")
        out = np.empty((len(rows), self.dim or 0), dtype=np.float32)
        chunk_of = np.searchsorted(self._starts, rows, side="right") - 1
        for chunk in np.unique(chunk_of):
            mask = chunk_of == chunk
            out[mask] = _mapped_embeddings(self._chunks[chunk][0])[rows[mask] - self._starts[chunk]]
        return out

    def append(self, hashes: Sequence[str] | np.ndarray, embeddings: np.ndarray) -> None:
        """Add rows in new chunk files (at most `chunk_bytes` of embeddings each)."""
        from safetensors.numpy import save_file

        dig = digests(hashes)
        embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        if embeddings.ndim != 2 or len(embeddings) != len(dig):
            raise ValueError(f"{len(dig)} hashes for embeddings of shape {embeddings.shape}")
        if self.dim is not None and embeddings.shape[1] != self.dim and len(dig):
            raise ValueError(f"embedding size {embeddings.shape[1]}, the cache has {self.dim}")
        per_chunk = max(1, self.chunk_bytes // max(1, embeddings.shape[1] * 4))
        for start in range(0, len(dig), per_chunk):
            part = slice(start, start + per_chunk)
            path = self.folder / f"chunk-{time.time_ns():020d}-{os.getpid()}.safetensors"
            with atomic_path(path) as tmp:
                tensors = {EMBEDDINGS: embeddings[part], HASHES: np.ascontiguousarray(dig[part])}
                save_file(tensors, str(tmp), metadata={"model_key": self.model_key})
            self._chunks.append((path, len(dig[part])))
        if len(dig):
            self.dim = embeddings.shape[1]
            self._digests = np.concatenate([self._digests, dig])
            self._starts = np.cumsum([0] + [n for _, n in self._chunks])
            prefix = _prefix(self._digests)
            self._order = np.argsort(prefix, kind="stable")
            self._sorted = prefix[self._order]


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
    if not texts:
        return torch.zeros(0, 0), 0
    keys = [text_hash(t) for t in texts]
    if cache_dir is None:
        unique = sorted(dict(zip(keys, texts, strict=True)).items())
        fresh = encode_texts(model, tokenizer, [t for _, t in unique], batch_size=batch_size,
                             device=device)  # fmt: skip
        row = {k: i for i, (k, _) in enumerate(unique)}
        return fresh[[row[k] for k in keys]], len(unique)
    cache = TextCache(cache_dir, model_key)
    rows = cache.lookup(keys)
    missing = sorted({k: t for k, t, r in zip(keys, texts, rows, strict=True) if r < 0}.items())
    if missing:
        fresh = encode_texts(
            model, tokenizer, [t for _, t in missing], batch_size=batch_size, device=device
        )
        cache.append([k for k, _ in missing], fresh.numpy())
        rows = cache.lookup(keys)
    logger.info(
        "Text embeddings: %d texts, %d encoded now, %d from cache",
        len(set(keys)), len(missing), len(set(keys)) - len(missing),
    )  # fmt: skip
    return torch.from_numpy(cache.rows(rows)), len(missing)
