"""Alignment data time per epoch: decoded-once pixels against decoding every image each epoch.

Both variants feed the same images through the align stage's own `ImageDataset` and `DataLoader`
(main process, like `num_workers: 0`) with the ViT-B/16 evaluation transform (resize 224 + crop):
- kept: `ImagePixels` with a budget: the check pass decodes each file once and keeps its resized
  uint8 pixels; epochs only convert and normalise them (what `realign align` does);
- decode: `ImagePixels` without a budget: every epoch reads, decodes and resizes every file again
  (what the stage did before).
The one check pass (which both variants run to find undecodable images) is timed too. Epochs of
the two variants alternate so load from other processes hits both alike; the median counts.

    python bench/align_data.py                    # 96 JPEGs of 512x384, 5 epochs each
    python bench/align_data.py --images 256 --size 1024

Last stdout line: the figures as JSON for bench/run.py.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader


def _write_images(root: Path, n: int, size: int) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        # smooth noise compresses like a photo rather than like white noise
        small = rng.integers(0, 256, (size // 16, size * 3 // 64, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((size, size * 3 // 4), Image.Resampling.BICUBIC)
        path = root / f"{i:04d}.jpg"
        image.save(path, quality=90)
        paths.append(path)
    return paths


def _epoch_s(dataset, batch_size: int) -> float:
    start = time.perf_counter()
    for _ in DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0):
        pass
    return time.perf_counter() - start


def main() -> None:
    """Time both variants and print the table and the figures."""
    from open_clip import image_transform

    from realign_pipeline.align.data import ImageDataset, ImagePixels

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--size", type=int, default=512, help="width of the source JPEGs")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(1)
    transform = image_transform(224, is_train=False)
    with tempfile.TemporaryDirectory() as tmp:
        paths = _write_images(Path(tmp), args.images, args.size)
        labels = [i % 2 for i in range(len(paths))]
        items = [(i, -1) for i in range(len(paths))]
        kept = ImagePixels(transform, cache_bytes=2**30)
        decode = ImagePixels(transform, cache_bytes=0)
        start = time.perf_counter()
        assert not kept.check(paths, desc="check (kept)")
        check_kept = time.perf_counter() - start
        start = time.perf_counter()
        assert not decode.check(paths, desc="check (decode)")
        check_decode = time.perf_counter() - start
        datasets = {
            "kept": ImageDataset(paths, labels, items, kept),
            "decode": ImageDataset(paths, labels, items, decode),
        }
        times: dict[str, list[float]] = {name: [] for name in datasets}
        for _ in range(args.epochs):
            for name, dataset in datasets.items():
                times[name].append(_epoch_s(dataset, args.batch_size))
        for a, b in zip(datasets["kept"], datasets["decode"], strict=True):
            assert torch.equal(a[0], b[0])  # same model inputs either way
    epoch = {name: statistics.median(t) for name, t in times.items()}
    print(
        f"{'variant':<8} {'check s':>8} {'epoch s':>8}  ({args.images} JPEGs {args.size}px, "
        f"median of {args.epochs} epochs, {kept.cached_bytes / 2**20:.0f} MB kept)"
    )
    print(f"{'kept':<8} {check_kept:>8.3f} {epoch['kept']:>8.3f}")
    print(f"{'decode':<8} {check_decode:>8.3f} {epoch['decode']:>8.3f}")
    figures = [
        {
            "figure": "align data time per epoch, decoded-once pixels / decode every epoch",
            "ours": epoch["kept"],
            "baseline": epoch["decode"],
            "unit": "s/epoch",
            "ratio": epoch["kept"] / epoch["decode"],
            "target": "< 0.5",
        }
    ]
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
