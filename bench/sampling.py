"""Sampling throughput: batched vs one image at a time, and the stage with 1 vs 2 workers.

Builds the tiny Qwen2.5-VL of the tiny preset (or takes `--model`), makes `--images` seeded
images, and generates the same keys (every image x the paper's question x `--seeds`, at the
tiny preset's temperature, top_p, top_k and max_new_tokens) two ways, each in its own child
process so that its peak memory is its own:

- batched: `TransformersBackend.generate` over `--batch-size` prompts per call (the stage's path);
- single: the same backend, one prompt per call (the naive loop).

Each mode runs `--rounds` times, alternating, and its best round counts (a shared machine's load
hits both). Reported: generations/s and generated tokens/s of each, their ratio, and the peak
RSS of each child (whole process: Python, torch, model) and its growth over the RSS after
loading the model.

Then the `sample` stage itself (`realign sample`, as `dvc repro` runs it) on a seeded synthetic
manifest of `--stage-images` images, once with `sample.num_workers=1` and once with 2 (two `--shard
i/2` processes through the launcher, then the merge), each from scratch: wall-clock
generations/s of each and their ratio (on a GPU pool each worker has its own GPU; on a shared
CPU they share the cores, so the ratio is bounded by the free cores). `--stage-images 0` skips it.
The last stdout line is the figures as JSON for bench/run.py.

Run: `python bench/sampling.py [--images 32] [--batch-size 16] [--repeats 2] [--rounds 2]
[--stage-images 48]`
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _images(n: int, size: int) -> list:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    return [
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(n)
    ]


def _child(args: argparse.Namespace) -> None:
    """Time one mode in this process and print its JSON line."""
    import torch

    from realign_pipeline.config import load_params
    from realign_pipeline.prompts import DEFAULT_SYSTEM_PROMPT, PAPER_QUESTION
    from realign_pipeline.sampling.backend import GenerationSettings
    from realign_pipeline.sampling.transformers_backend import TransformersBackend

    torch.set_num_threads(args.threads)
    cfg = load_params(args.params).sample
    settings = GenerationSettings(
        DEFAULT_SYSTEM_PROMPT, cfg.top_p, cfg.top_k, cfg.max_new_tokens, "float32", "cpu"
    )
    backend = TransformersBackend(args.model, settings)
    images = _images(args.images, args.image_size)
    chunk = min(args.batch_size, len(images)) if args.mode == "batched" else 1
    temperature = cfg.temperatures[0]
    backend.generate(images[:chunk], [PAPER_QUESTION] * chunk, 0, temperature)  # warm-up
    base_rss = _rss_mb()
    best, tokens = float("inf"), 0
    for _ in range(args.repeats):
        start, tokens = time.perf_counter(), 0
        for seed in range(args.seeds):
            for i in range(0, len(images), chunk):
                part = images[i : i + chunk]
                out = backend.generate(part, [PAPER_QUESTION] * len(part), seed, temperature)
                tokens += sum(g.n_tokens for g in out)
        best = min(best, time.perf_counter() - start)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n = len(images) * args.seeds
    print(
        json.dumps(
            {
                "mode": args.mode,
                "generations": n,
                "seconds": best,
                "generations_per_s": n / best,
                "tokens_per_s": tokens / best,
                "peak_rss_mb": peak_mb,
                "rss_growth_mb": peak_mb - base_rss,
            }
        )
    )


def _build_model(params: str, out: Path) -> str:
    from realign_pipeline.config import load_params
    from realign_pipeline.tiny_models import build_tiny_vlm

    return str(build_tiny_vlm(out, load_params(params).tiny_models, seed=0))


def _run_child(args: argparse.Namespace, mode: str, model: str) -> dict:
    cmd = [
        sys.executable, __file__, "--child", "--mode", mode, "--model", model,
        "--params", args.params, "--images", str(args.images), "--seeds", str(args.seeds),
        "--batch-size", str(args.batch_size), "--repeats", str(args.repeats),
        "--image-size", str(args.image_size), "--threads", str(args.threads),
    ]  # fmt: skip
    env = {**os.environ, "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _report(batched: dict, single: dict, args: argparse.Namespace) -> list[dict]:
    ratio = batched["generations_per_s"] / single["generations_per_s"]
    print(f"{'mode':<10}{'gen/s':>10}{'tok/s':>10}{'peak RSS MB':>13}{'growth MB':>11}")
    for row in (batched, single):
        print(
            f"{row['mode']:<10}{row['generations_per_s']:>10.2f}{row['tokens_per_s']:>10.1f}"
            f"{row['peak_rss_mb']:>13.0f}{row['rss_growth_mb']:>11.1f}"
        )
    print(f"ratio (batched / single, generations/s): {ratio:.2f}x at batch {args.batch_size}")
    return [
        {
            "figure": f"sample generations/s, tiny VLM, batch {args.batch_size} vs 1 (CPU)",
            "ours": batched["generations_per_s"],
            "baseline": single["generations_per_s"],
            "unit": "gen/s",
            "ratio": ratio,
            "target": ">= 3x",
        },
        {
            "figure": "sample generated tokens/s, batched vs one at a time",
            "ours": batched["tokens_per_s"],
            "baseline": single["tokens_per_s"],
            "unit": "tok/s",
            "ratio": batched["tokens_per_s"] / single["tokens_per_s"],
            "target": "",
        },
        {
            "figure": "sample peak RSS of the process, batched vs one at a time",
            "ours": batched["peak_rss_mb"],
            "baseline": single["peak_rss_mb"],
            "unit": "MB",
            "ratio": batched["peak_rss_mb"] / single["peak_rss_mb"],
            "target": "",
        },
    ]


def _stage_run(args: argparse.Namespace, model: str, tmp: Path, workers: int) -> dict:
    """One `realign sample` run from scratch with `sample.num_workers`; wall-clock figures."""
    out = tmp / f"stage-{workers}"
    cmd = [
        sys.executable, "-m", "realign_pipeline.cli", "sample", "--model", model,
        "--manifest", str(tmp / "manifests" / "train.parquet"), "--data-root", str(tmp / "data"),
        "--out", str(out), "--metrics", str(tmp / f"stage-{workers}.json"),
        "--params", args.params, "-s", "tracking.enabled=false", "-s", "sample.seeds=[0]",
        "-s", f"sample.batch_size={args.batch_size}", "-s", f"sample.num_workers={workers}",
        "-s", f"sample.cpu_threads={args.threads}",
    ]  # fmt: skip
    env = {**os.environ, "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    seconds = time.perf_counter() - start
    generated = json.loads(done.stdout)["counts"]["generated"]
    return {"num_workers": workers, "generations": generated, "seconds": seconds,
            "generations_per_s": generated / seconds}  # fmt: skip


def _stage_workers(args: argparse.Namespace, model: str, tmp: Path) -> list[dict]:
    from _synthetic import ingest, write_images

    write_images(tmp / "data", args.stage_images, size=args.image_size)
    ingest(tmp / "data", tmp / "manifests", args.params)
    one, two = (_stage_run(args, model, tmp, n) for n in (1, 2))
    ratio = two["generations_per_s"] / one["generations_per_s"]
    print(f"{'workers':<10}{'gen':>6}{'seconds':>10}{'gen/s':>10}   (realign sample, wall clock)")
    for row in (one, two):
        print(
            f"{row['num_workers']:<10}{row['generations']:>6}{row['seconds']:>10.1f}"
            f"{row['generations_per_s']:>10.2f}"
        )
    print(f"ratio (2 workers / 1, generations/s): {ratio:.2f}x on {os.cpu_count()} CPU cores")
    return [
        {
            "figure": "sample stage generations/s, 2 workers vs 1 (tiny VLM, CPU, wall clock)",
            "ours": two["generations_per_s"],
            "baseline": one["generations_per_s"],
            "unit": "gen/s",
            "ratio": ratio,
            "target": "",
        }
    ]


def main() -> None:
    """Parse arguments; run both modes as children (or be one) and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default=str(REPO_ROOT / "params.yaml"))
    parser.add_argument("--model", default="", help="model folder (default: build the tiny one)")
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2, help="timed passes per child (best)")
    parser.add_argument("--rounds", type=int, default=2, help="children per mode, alternated")
    parser.add_argument("--threads", type=int, default=1, help="torch threads in each child")
    parser.add_argument("--stage-images", type=int, default=48, help="0 = skip 1 vs 2 workers")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=["batched", "single"], default="batched")
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or _build_model(args.params, Path(tmp) / "vlm")
        runs: dict[str, list[dict]] = {"single": [], "batched": []}
        for _ in range(args.rounds):  # alternate the modes so load changes hit both
            for mode in runs:
                runs[mode].append(_run_child(args, mode, model))
        single, batched = (max(runs[m], key=lambda r: r["generations_per_s"]) for m in runs)
        figures = _report(batched, single, args)
        if args.stage_images:
            figures += _stage_workers(args, model, Path(tmp))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
