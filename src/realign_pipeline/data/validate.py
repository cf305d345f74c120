"""Decoding every candidate image once, in parallel, to validate it.

Each file is read once; its sha256 (the image_id) is computed from the same bytes that are
decoded with `realign_pipeline.images.decode_image`, so a file is never read twice. The work per
file is the top-level function `check_file`, so it pickles to worker processes.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from tqdm import tqdm

from realign_pipeline.images import ImageRejected, decode_image

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileCheck:
    """What decoding one file found: its id and size, or why it was rejected."""

    image_id: str | None
    width: int
    height: int
    format: str
    mode: str
    normalised: str  # comma-separated normalisation steps, "" when none
    reason: str | None
    detail: str


def check_file(path: str, *, max_pixels: int, min_side: int) -> FileCheck:
    """Read, hash and decode one file (runs in a worker process)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        return FileCheck(None, 0, 0, "", "", "", "unreadable", f"{type(exc).__name__}: {exc}")
    image_id = hashlib.sha256(data).hexdigest()
    try:
        decoded = decode_image(data, max_pixels=max_pixels, min_side=min_side)
    except ImageRejected as exc:
        return FileCheck(image_id, 0, 0, "", "", "", exc.reason, exc.detail[:500])
    return FileCheck(
        image_id,
        decoded.width,
        decoded.height,
        decoded.format,
        decoded.mode,
        ",".join(decoded.normalised),
        None,
        "",
    )


def available_cores() -> int:
    """Cores this process may run on (respects CPU affinity, e.g. in containers)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_files(
    paths: Sequence[Path],
    *,
    max_pixels: int,
    min_side: int,
    workers: int,
    chunk_size: int,
    pool_min_files: int,
) -> list[FileCheck]:
    """Check every file, in input order, with a process pool when it pays.

    Args:
        paths: absolute file paths.
        max_pixels, min_side: passed to `decode_image`.
        workers: process count; 0 means every available core.
        chunk_size: files per task sent to a worker.
        pool_min_files: below this many files, decode in this process.
    """
    n_workers = min(workers or available_cores(), max(1, len(paths) // chunk_size))
    work = partial(check_file, max_pixels=max_pixels, min_side=min_side)
    names = [str(p) for p in paths]
    bar = tqdm(total=len(names), desc="ingest: decode", unit="img", disable=None)
    with bar:
        if n_workers <= 1 or len(names) < pool_min_files:
            logger.info("decoding %d files in-process", len(names))
            results = []
            for name in names:
                results.append(work(name))
                bar.update()
            return results
        logger.info("decoding %d files with %d processes", len(names), n_workers)
        with ProcessPoolExecutor(max_workers=n_workers) as pool:
            results = []
            for result in pool.map(work, names, chunksize=chunk_size):
                results.append(result)
                bar.update()
            return results
