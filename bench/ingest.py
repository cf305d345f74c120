"""Ingest throughput (images/s) next to a plain single-process PIL open+load loop, in one run.

Builds the demo data (tiny preset, optionally `--scale`d) in a temporary folder, then times
`run_ingest` (hash + validate + normalise every image with a process pool over the available
cores, dedupe, write the manifests) and a baseline that only opens and decodes the same files one
by one with PIL. Each is run `--repeats` times; the best time counts. The last stdout line is the
figure as JSON for the bench runner: {"figure", "ours", "baseline", "ratio", ...}.

Run: `python bench/ingest.py [--scale 4] [--repeats 3]`
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

from PIL import Image

from realign_pipeline.config import load_params
from realign_pipeline.data import build_demo_data, run_ingest
from realign_pipeline.data.validate import available_cores

REPO_ROOT = Path(__file__).resolve().parents[1]


def _baseline(files: list[Path]) -> None:
    for path in files:
        with Image.open(path) as img:
            img.load()


def _best_of(repeats: int, fn: object) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    """Run the benchmark and print the figures (JSON on the last line)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default=str(REPO_ROOT / "params.yaml"))
    parser.add_argument("--scale", type=int, default=1, help="images per generator x this")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    params = load_params(args.params)
    per_gen = {
        key: getattr(params.demo_data, key) * args.scale
        for key in (
            "train_real_per_generator",
            "train_fake_per_generator",
            "benchmark_real_per_generator",
            "benchmark_fake_per_generator",
        )
    }
    demo_cfg = params.demo_data.model_copy(update=per_gen)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        build_demo_data(root, demo_cfg, seed=params.seed)
        files = sorted(p for p in root.rglob("*.png"))
        out, metrics = Path(tmp) / "manifests", Path(tmp) / "ingest.json"

        def ours() -> None:
            result = run_ingest(root, out, metrics, params.ingest, seed=params.seed)
            assert result.counts["accepted"] == len(files), result.counts

        def ours_serial() -> None:
            cfg = params.ingest.model_copy(update={"num_workers": 1})
            run_ingest(root, out, metrics, cfg, seed=params.seed)

        ours_s = _best_of(args.repeats, ours)
        serial_s = _best_of(args.repeats, ours_serial)
        base_s = _best_of(args.repeats, lambda: _baseline(files))
    ours_ips, base_ips = len(files) / ours_s, len(files) / base_s
    print(f"images: {len(files)} ({params.demo_data.image_size}px PNG), cores: {available_cores()}")
    print(f"run_ingest (hash+validate+normalise+manifests): {ours_ips:8.1f} images/s")
    print(f"run_ingest with workers=1 (no pool):            {len(files) / serial_s:8.1f} images/s")
    print(f"plain PIL open+load loop, one process:          {base_ips:8.1f} images/s")
    print(f"ratio: {ours_ips / base_ips:.2f}")
    figure = {
        "figure": "ingest_images_per_s",
        "ours": round(ours_ips, 1),
        "baseline": round(base_ips, 1),
        "ratio": round(ours_ips / base_ips, 3),
        "images": len(files),
        "cores": available_cores(),
    }
    print(json.dumps(figure))


if __name__ == "__main__":
    main()
