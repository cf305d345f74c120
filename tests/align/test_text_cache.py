"""The chunked text-embedding cache: lookups, appends, damaged chunks, and 2 million entries."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from realign_pipeline.align.text_cache import TextCache, cache_folder, text_hash


def _digests(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 256, (n, 32), dtype=np.uint8)


def test_lookup_append_and_reopen(tmp_path: Path) -> None:
    cache = TextCache(tmp_path, "model-a")
    hashes = [text_hash(t) for t in ("a", "b", "c")]
    emb = np.arange(9, dtype=np.float32).reshape(3, 3)
    assert (cache.lookup(hashes) == -1).all()
    cache.append(hashes[:2], emb[:2])
    cache.append(hashes[2:], emb[2:])
    reopened = TextCache(tmp_path, "model-a")
    rows = reopened.lookup([hashes[2], text_hash("unknown"), hashes[0]])
    assert rows.tolist() == [2, -1, 0]
    np.testing.assert_array_equal(reopened.rows(np.array([2, 0])), emb[[2, 0]])
    assert len(TextCache(tmp_path, "model-b")) == 0  # another model: its own folder
    with pytest.raises(ValueError, match="embedding size 4, the cache has 3"):
        reopened.append([text_hash("d")], np.zeros((1, 4), np.float32))


def test_a_chunk_of_another_model_is_dropped(tmp_path: Path) -> None:
    TextCache(tmp_path, "model-a").append([text_hash("a")], np.ones((1, 2), np.float32))
    (chunk,) = cache_folder(tmp_path, "model-a").iterdir()
    stray = cache_folder(tmp_path, "model-b") / chunk.name
    stray.parent.mkdir()
    chunk.rename(stray)  # e.g. a folder copied by hand
    assert len(TextCache(tmp_path, "model-b")) == 0 and not stray.exists()


def test_colliding_hash_prefixes_are_told_apart(tmp_path: Path) -> None:
    dig = np.zeros((3, 32), np.uint8)
    dig[1, 31], dig[2, 31] = 1, 2  # same first 8 bytes, different digests
    cache = TextCache(tmp_path, "m")
    cache.append(dig[:2], np.eye(2, dtype=np.float32))
    assert cache.lookup(dig).tolist() == [0, 1, -1]


def test_two_million_embeddings_round_trip_in_bounded_memory(tmp_path: Path) -> None:
    """2M x 16 float32 (128 MB) appended in 20 runs, reopened, looked up and read back."""
    n, dim, runs = 2_000_000, 16, 20
    per = n // runs
    tracemalloc.start()
    cache = TextCache(tmp_path, "big", chunk_bytes=16 * 2**20)
    for run in range(runs):
        part = np.random.default_rng(run).standard_normal((per, dim), dtype=np.float32)
        cache.append(_digests(np.random.default_rng(1000 + run), per), part)
    del cache, part
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(n, 100_000, replace=False))
    query = np.concatenate(
        [_digests(np.random.default_rng(1000 + r), per)[pick[pick // per == r] % per]
         for r in range(runs)]
    )  # fmt: skip
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    cache = TextCache(tmp_path, "big")
    assert len(cache) == n
    rows = cache.lookup(query)
    np.testing.assert_array_equal(rows, pick)  # row = insertion position
    got = cache.rows(rows[::1000])
    for i, row in enumerate(pick[::1000]):
        expected = np.random.default_rng(row // per).standard_normal((per, dim), dtype=np.float32)
        np.testing.assert_array_equal(got[i], expected[row % per])
    assert (cache.lookup(_digests(rng, 1000)) == -1).all()
    all_rows = cache.rows(np.arange(n))  # the whole [N, D] tensor: 128 MB
    assert all_rows.shape == (n, dim)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # index (~48 B/entry = 96 MB) + the full read (128 MB) + lookups; chunks are memory-mapped
    assert peak - base < 400 * 2**20, f"peak {(peak - base) / 2**20:.0f} MB above the baseline"
    assert len(list(cache.folder.iterdir())) <= 2 * runs  # chunks, not one tensor per text
