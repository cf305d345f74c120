"""Throughput of the evaluate stage vs the detector's raw batched forward, same images, one run.

- ours: images/s of `evaluate_scorer` end to end (read + decode + preprocess through the
  DataLoader, forward, streaming parquet, metrics, plots, report) on the clean condition only;
- baseline: images/s of `detector.predict_proba` alone over the same images, decoded and
  preprocessed beforehand into one tensor (not timed), same batch size.
The ratio ours / baseline is the share of the forward's speed the stage keeps; 1 / ratio is the
data pipeline's overhead factor.

    python bench/evaluate.py                         # tiny detector (32 px), synthetic images
    python bench/evaluate.py --arch ViT-B-16         # random ViT-B/16 detector (224 px)
    python bench/evaluate.py --detector artifacts/detector --manifests artifacts/manifests \
        --data-root data --benchmark demo            # a real detector and benchmark

Last stdout line: the figures as JSON for bench/run.py.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from PIL import Image

from realign_pipeline.config.evaluate import EvaluateConfig
from realign_pipeline.evaluate import evaluate_scorer
from realign_pipeline.evaluate.stage import detector_preprocess
from realign_pipeline.images import load_image
from realign_pipeline.manifest import (
    MANIFEST_COLUMNS,
    benchmark_file,
    image_path,
    read_manifest,
)

REPO = Path(__file__).resolve().parents[1]
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def _random_detector(arch: str, out_dir: Path) -> Path:
    """Export a detector with random weights for an open_clip (or project) architecture."""
    import open_clip

    from realign_pipeline.detector import (
        DetectorSpec,
        create_detector,
        save_detector,
    )
    from realign_pipeline.model_configs import register_model_configs

    register_model_configs()
    config = open_clip.get_model_config(arch)
    if config is None:
        raise SystemExit(f"unknown architecture {arch!r}")
    spec = DetectorSpec.model_validate(
        {
            "format_version": 1,
            "architecture": arch,
            "model_config": config,
            "image_size": int(config["vision_cfg"]["image_size"]),
            "mean": OPENAI_MEAN,
            "std": OPENAI_STD,
            "interpolation": "bicubic",
            "resize_mode": "shortest",
            "threshold": 0.5,
            "head": {"in_dim": config["embed_dim"], "hidden_dim": 64, "normalize_input": True},
            "provenance": {"source": "bench/evaluate.py random weights"},
        }
    )
    torch.manual_seed(0)
    return save_detector(create_detector(spec), out_dir)


def _synthetic_benchmark(root: Path, n_images: int, size: int) -> Path:
    """`n_images` JPEGs (q95, size x size) in two generators, and their manifest."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n_images):
        gen, label = f"gen_{i % 2}", (i // 2) % 2
        rel = f"benchmarks/bench/{gen}/{label}_{'fake' if label else 'real'}/{i}.jpg"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        arr = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(arr).save(root / rel, format="JPEG", quality=95)
        digest = hashlib.sha256((root / rel).read_bytes()).hexdigest()
        rows.append([digest, rel, label, gen, "", "bench", "benchmark", size, size, "JPEG"])
    frame = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS)).astype({"label": "int8"})
    manifests = root / "manifests"
    manifests.mkdir()
    frame.to_parquet(manifests / benchmark_file("bench"), index=False)
    return manifests


def _config(batch_size: int, benchmark: str) -> EvaluateConfig:
    section = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))["evaluate"]
    section.update(benchmarks=[benchmark], perturbations=[], batch_size=batch_size, device="cpu")
    return EvaluateConfig.model_validate(section)


def _raw_forward(detector, pixels: torch.Tensor, batch_size: int) -> float:
    """Seconds of predict_proba over pre-decoded tensors (one warm-up batch first)."""
    detector.predict_proba(pixels[:batch_size])
    start = time.perf_counter()
    for begin in range(0, len(pixels), batch_size):
        detector.predict_proba(pixels[begin : begin + batch_size])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--arch", default="realign-tiny-vit", help="random detector architecture")
    parser.add_argument("--detector", type=Path, help="an exported detector folder instead")
    parser.add_argument("--manifests", type=Path, help="manifest folder of a real benchmark")
    parser.add_argument("--data-root", type=Path, default=Path("data"))
    parser.add_argument("--benchmark", default="bench")
    parser.add_argument("--n-images", type=int, default=256)
    parser.add_argument("--size", type=int, default=256, help="synthetic image side (px)")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))

    from realign_pipeline.detector import load_detector

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        detector_dir = args.detector or _random_detector(args.arch, tmp / "detector")
        if args.manifests:
            manifests, root = args.manifests, args.data_root
        else:
            root = tmp / "data"
            manifests = _synthetic_benchmark(root, args.n_images, args.size)
        cfg = _config(args.batch_size, args.benchmark)
        detector = load_detector(detector_dir)
        spec = detector.spec
        preprocess = detector_preprocess(spec, cfg)
        frame = read_manifest(manifests / benchmark_file(args.benchmark))
        pixels = torch.stack([preprocess(load_image(image_path(root, p))) for p in frame["path"]])
        n = len(frame)

        forward_s = _raw_forward(detector, pixels, cfg.batch_size)
        start = time.perf_counter()
        evaluate_scorer(
            detector.predict_proba,
            preprocess,
            manifests,
            root,
            tmp / "eval",
            tmp / "eval.json",
            cfg,
        )
        stage_s = time.perf_counter() - start

    ours, baseline = n / stage_s, n / forward_s
    print(
        f"{'detector':<28} {spec.architecture} ({spec.image_size} px), {n} images, "
        f"batch {cfg.batch_size}, {torch.get_num_threads()} threads"
    )
    print(f"{'evaluate stage':<28} {ours:10.1f} images/s  ({stage_s:.2f} s)")
    print(f"{'raw batched forward':<28} {baseline:10.1f} images/s  ({forward_s:.2f} s)")
    print(f"{'ratio (stage / forward)':<28} {ours / baseline:10.3f}")
    figure = {
        "figure": f"evaluate stage vs raw forward ({spec.architecture}, {spec.image_size} px)",
        "ours": ours,
        "baseline": baseline,
        "unit": "images/s",
        "ratio": ours / baseline,
        "target": "",
    }
    print(json.dumps([figure]))


if __name__ == "__main__":
    main()
