"""Text-embedding cache lookups per 1k texts at 10k and 1M cached entries (chunked cache).

Builds a cache of N synthetic texts (`text <i>`) with `--dim`-wide embeddings for each size, in
appends of 100k rows (as successive align runs would add texts), then times, on a reopened cache:
opening it (reading the hash index of every chunk), and for 1000 random cached texts plus their
embeddings: hashing the texts, looking up their rows and reading the rows (best of `--repeats`).
The figure is the time per 1k texts at 1M entries next to the same at 10k (ratio near 1 = lookup
cost does not grow with the cache). The old single-file cache (one tensor per text) could not
even be written at 1M entries (safetensors' 100 MB header limit, ~0.75M texts).
The last stdout line is the figures as JSON for bench/run.py.

Run: `python bench/text_cache.py [--dim 64] [--repeats 5]`
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from realign_pipeline.align.text_cache import TextCache, text_hash

SIZES = (10_000, 1_000_000)
APPEND = 100_000


def _build(root: Path, n: int, dim: int) -> None:
    cache = TextCache(root, "bench")
    rng = np.random.default_rng(0)
    for start in range(0, n, APPEND):
        stop = min(n, start + APPEND)
        hashes = [text_hash(f"text {i}") for i in range(start, stop)]
        cache.append(hashes, rng.standard_normal((stop - start, dim), dtype=np.float32))


def _measure(root: Path, n: int, repeats: int) -> dict:
    start = time.perf_counter()
    cache = TextCache(root, "bench")
    open_s = time.perf_counter() - start
    rng = np.random.default_rng(1)
    best = float("inf")
    for _ in range(repeats):
        texts = [f"text {i}" for i in rng.choice(n, 1000, replace=False)]
        start = time.perf_counter()
        rows = cache.lookup([text_hash(t) for t in texts])
        emb = cache.rows(rows)
        best = min(best, time.perf_counter() - start)
        assert (rows >= 0).all() and emb.shape[0] == 1000
    return {"entries": n, "open_s": open_s, "per_1k_ms": best * 1000}


def _count(n: int) -> str:
    """1000000 -> "1M", 10000 -> "10k" (the figure's name)."""
    return f"{n // 10**6}M" if n % 10**6 == 0 else f"{n // 1000}k" if n % 1000 == 0 else str(n)


def main() -> None:
    """Build each size, measure, print a table and the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs=2, default=SIZES, help="small and large cache")
    args = parser.parse_args()
    results = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            _build(Path(tmp), n, args.dim)
            build_s = time.perf_counter() - start
            results.append({**_measure(Path(tmp), n, args.repeats), "build_s": build_s})
    print(f"{'entries':>10}{'build s':>10}{'open s':>10}{'lookup+read ms / 1k texts':>28}")
    for r in results:
        print(f"{r['entries']:>10}{r['build_s']:>10.1f}{r['open_s']:>10.2f}{r['per_1k_ms']:>28.2f}")
    small, large = results
    print(
        json.dumps(
            [
                {
                    "figure": "text cache lookup + read per 1k texts, "
                    f"{_count(large['entries'])} vs {_count(small['entries'])} entries "
                    f"(D={args.dim})",
                    "ours": large["per_1k_ms"],
                    "baseline": small["per_1k_ms"],
                    "unit": "ms",
                    "ratio": large["per_1k_ms"] / small["per_1k_ms"],
                    "target": "",
                }
            ]
        )
    )


if __name__ == "__main__":
    main()
