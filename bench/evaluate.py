"""Throughput of the evaluate stage vs the detector's raw batched forward, same images, one run.

- ours: images/s of `evaluate_scorer` end to end (read + decode + preprocess through the
  DataLoader, forward, streaming parquet, metrics, plots, report) on the clean condition only;
- baseline: images/s of `detector.predict_proba` alone over the same images, decoded and
  preprocessed beforehand into one tensor (not timed), same batch size.
The ratio ours / baseline is the share of the forward's speed the stage keeps; 1 / ratio is the
data pipeline's overhead factor. The detector has random weights, the images are random JPEGs.

    python bench/evaluate.py                         # tiny detector (32 px)
    python bench/evaluate.py --arch ViT-B-16         # random ViT-B/16 detector (224 px)
"""

from __future__ import annotations

import tempfile
import timeit
from pathlib import Path

import numpy as np
import torch
from _harness import REPO, figure, parser, report
from _synthetic import write_manifest
from PIL import Image

from realign_pipeline.align.models import create_clip, create_spec
from realign_pipeline.align.module import ReAlignModel, export_detector
from realign_pipeline.config import load_params
from realign_pipeline.detector import load_detector, save_detector
from realign_pipeline.evaluate import evaluate_scorer
from realign_pipeline.evaluate.stage import detector_preprocess
from realign_pipeline.images import load_image
from realign_pipeline.manifest import benchmark_file


def _benchmark(root: Path, n_images: int, size: int) -> list[Path]:
    """`n_images` JPEGs (q95, size x size) in two generators, and the `bench` manifest."""
    rng, rows = np.random.default_rng(0), []
    for i in range(n_images):
        gen, label = f"gen_{i % 2}", (i // 2) % 2
        rel = f"benchmarks/bench/{gen}/{label}_{'fake' if label else 'real'}/{i}.jpg"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        arr = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(arr).save(root / rel, format="JPEG", quality=95)
        rows.append((rel, label, gen))
    write_manifest(root, rows, "benchmark", root / "manifests" / benchmark_file("bench"))
    return [root / rel for rel, _, _ in rows]


def main() -> None:
    """Time the stage and the raw forward; print the figure."""
    cli = parser(__doc__)
    cli.add_argument("--arch", default="realign-tiny-vit", help="random detector architecture")
    cli.add_argument("--n-images", type=int, default=256)
    cli.add_argument("--size", type=int, default=256, help="image side (px)")
    cli.add_argument("--batch-size", type=int, default=32)
    args = cli.parse_args()
    params = load_params(REPO / "params.yaml")
    clean = {"benchmarks": ["bench"], "perturbations": [], "batch_size": args.batch_size}
    cfg = params.evaluate.model_copy(update={**clean, "device": "cpu"})
    align = params.align.model_copy(update={"model_name": args.arch, "pretrained": None})
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        clip = create_clip(args.arch, None, seed=0)  # random weights, exported by the align code
        model = ReAlignModel(clip.model, create_spec(clip, align, {}), align)
        detector = load_detector(save_detector(export_detector(model), tmp / "det"))
        preprocess = detector_preprocess(detector.spec, cfg)
        files = _benchmark(tmp / "data", args.n_images, args.size)
        pixels = torch.stack([preprocess(load_image(path)) for path in files])
        detector.predict_proba(pixels[: cfg.batch_size])  # warm-up
        forward_s = timeit.timeit(
            lambda: [detector.predict_proba(batch) for batch in pixels.split(cfg.batch_size)],
            number=1,
        )
        stage_s = timeit.timeit(
            lambda: evaluate_scorer(detector.predict_proba, preprocess, tmp / "data/manifests",
                                    tmp / "data", tmp / "eval", tmp / "eval.json", cfg),
            number=1,
        )  # fmt: skip
    spec, n = detector.spec, len(files)
    threads = torch.get_num_threads()
    print(f"{spec.architecture} ({spec.image_size} px), {n} images, batch {cfg.batch_size}, "
          f"{threads} threads: stage {stage_s:.2f} s, forward {forward_s:.2f} s")  # fmt: skip
    name = f"evaluate stage vs raw forward ({spec.architecture}, {spec.image_size} px)"
    report([figure(name, n / stage_s, n / forward_s, "images/s")])


if __name__ == "__main__":
    main()
