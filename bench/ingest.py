"""Ingest throughput (images/s) next to a plain single-process PIL open+load loop, in one run.

Builds the demo data (tiny preset, `--scale` times the images per generator) in a temporary
folder, then times `run_ingest` (hash, validate and normalise every image with a process pool
over the available cores, dedupe, write the manifests) and a baseline that only opens and
decodes the same files one by one with PIL. Best of `--repeats` interleaved runs each.

    python bench/ingest.py [--scale 4] [--repeats 3]
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from _harness import REPO, figure, interleaved, parser, report
from PIL import Image

from realign_pipeline.config import load_params
from realign_pipeline.data import build_demo_data, run_ingest
from realign_pipeline.data.validate import available_cores

_PER_GENERATOR = ("train_real_per_generator", "train_fake_per_generator",
                  "benchmark_real_per_generator", "benchmark_fake_per_generator")  # fmt: skip


def _decode(files: list[Path]) -> None:
    for path in files:
        with Image.open(path) as img:
            img.load()


def main() -> None:
    """Run the benchmark and print the figure."""
    cli = parser(__doc__)
    cli.add_argument("--params", default=str(REPO / "params.yaml"))
    cli.add_argument("--scale", type=int, default=1, help="images per generator x this")
    cli.add_argument("--repeats", type=int, default=3)
    args = cli.parse_args()
    logging.basicConfig(level=logging.WARNING)
    params = load_params(args.params)
    demo = params.demo_data
    demo = demo.model_copy(update={key: getattr(demo, key) * args.scale for key in _PER_GENERATOR})
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        build_demo_data(root, demo, seed=params.seed)
        files = sorted(root.rglob("*.png"))

        def ingest() -> None:
            result = run_ingest(root, Path(tmp) / "manifests", Path(tmp) / "ingest.json",
                                params.ingest, seed=params.seed)  # fmt: skip
            assert result.counts["accepted"] == len(files), result.counts

        times = interleaved({"ours": ingest, "PIL": lambda: _decode(files)}, args.repeats, 0)
    ours, base = (len(files) / min(times[name]) for name in ("ours", "PIL"))
    print(f"{len(files)} images ({demo.image_size} px PNG), {available_cores()} cores")
    report([figure("ingest_images_per_s", ours, base, "images/s", images=len(files),
                   cores=available_cores())])  # fmt: skip


if __name__ == "__main__":
    main()
