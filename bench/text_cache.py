"""Text-embedding cache lookups per 1k texts at 10k and 1M cached entries (chunked cache).

Builds a cache of N synthetic texts (`text <i>`) with `--dim`-wide embeddings for each size, in
appends of 100k rows (as successive align runs would add texts), then, on the reopened cache,
times hashing 1000 random cached texts, looking up their rows and reading the rows (best of
`--repeats`). The figure is the time per 1k texts at 1M entries next to the same at 10k (ratio
near 1: the lookup cost does not grow with the cache). The old single-file cache (one tensor per
text) could not even be written at 1M entries (safetensors' 100 MB header limit, ~0.75M texts).

    python bench/text_cache.py [--dim 64] [--repeats 5]
"""

from __future__ import annotations

import tempfile
import timeit
from pathlib import Path

import numpy as np
from _harness import figure, parser, report

from realign_pipeline.align.text_cache import TextCache, text_hash

APPEND = 100_000


def _per_1k_ms(n: int, dim: int, repeats: int) -> float:
    """Build a cache of `n` texts, reopen it, and time 1000 random lookups + reads (best)."""
    with tempfile.TemporaryDirectory() as tmp:
        cache, rng = TextCache(Path(tmp), "bench"), np.random.default_rng(0)
        for start in range(0, n, APPEND):
            stop = min(n, start + APPEND)
            hashes = [text_hash(f"text {i}") for i in range(start, stop)]
            cache.append(hashes, rng.standard_normal((stop - start, dim), dtype=np.float32))
        start = timeit.default_timer()
        cache = TextCache(Path(tmp), "bench")
        print(f"{n} entries: reopened in {timeit.default_timer() - start:.2f} s")
        best = float("inf")
        for _ in range(repeats):
            texts = [f"text {i}" for i in rng.choice(n, 1000, replace=False)]
            start = timeit.default_timer()
            rows = cache.lookup([text_hash(t) for t in texts])
            emb = cache.rows(rows)
            best = min(best, timeit.default_timer() - start)
            assert (rows >= 0).all() and emb.shape[0] == 1000
    return best * 1000


def _count(n: int) -> str:
    """1000000 -> "1M", 10000 -> "10k" (the figure's name)."""
    return f"{n // 10**6}M" if n % 10**6 == 0 else f"{n // 1000}k" if n % 1000 == 0 else str(n)


def main() -> None:
    """Build and measure each size; print the figure."""
    cli = parser(__doc__)
    cli.add_argument("--dim", type=int, default=64)
    cli.add_argument("--repeats", type=int, default=5)
    cli.add_argument("--sizes", type=int, nargs=2, default=(10_000, 1_000_000))
    args = cli.parse_args()
    small, large = (_per_1k_ms(n, args.dim, args.repeats) for n in args.sizes)
    name = (f"text cache lookup + read per 1k texts, {_count(args.sizes[1])} vs "
            f"{_count(args.sizes[0])} entries (D={args.dim})")  # fmt: skip
    report([figure(name, large, small, "ms")])


if __name__ == "__main__":
    main()
