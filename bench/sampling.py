"""Sampling throughput: batched vs one image at a time, and the stage with 1 vs 2 workers.

Builds the tiny Qwen2.5-VL of the tiny preset (or takes `--model`), makes `--images` seeded
images and generates the same keys (every image x the paper's question, seed 0, at the tiny
preset's temperature, top_p, top_k and max_new_tokens) two ways, each in its own child
process so that its peak memory is its own:
- batched: `TransformersBackend.generate` over `--batch-size` prompts per call (the stage's path);
- single: the same backend, one prompt per call (the naive loop).
Each mode runs `--rounds` children, alternating, and its best child counts (each child: best of
`--repeats` passes). Reported: generations/s, generated tokens/s and peak RSS of each.

Then the `sample` stage itself (`realign sample`, as `dvc repro` runs it) on a seeded synthetic
manifest of `--stage-images` images, once with `sample.num_workers=1` and once with 2 (two
`--shard i/2` processes through the launcher, then the merge), each from scratch: wall-clock
generations/s of each (on a GPU pool each worker has its own GPU; on a shared CPU they share the
cores). `--stage-images 0` skips it.

    python bench/sampling.py [--images 32] [--batch-size 16] [--repeats 2] [--rounds 2]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import timeit
from pathlib import Path

import numpy as np
from _harness import CHILD_ENV, REPO, child, figure, parser, peak_rss_mb, report
from PIL import Image

from realign_pipeline.config import load_params


def _child(args) -> dict:  # noqa: ANN001 - the parsed arguments
    """Time one mode in this process."""
    import torch

    from realign_pipeline.prompts import DEFAULT_SYSTEM_PROMPT, PAPER_QUESTION
    from realign_pipeline.sampling.backend import GenerationSettings
    from realign_pipeline.sampling.transformers_backend import TransformersBackend

    torch.set_num_threads(args.threads)
    cfg = load_params(args.params).sample
    settings = GenerationSettings(
        DEFAULT_SYSTEM_PROMPT, cfg.top_p, cfg.top_k, cfg.max_new_tokens, "float32", "cpu"
    )
    backend = TransformersBackend(args.model, settings)
    rng = np.random.default_rng(0)
    shape = (args.image_size, args.image_size, 3)
    images = [
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)) for _ in range(args.images)
    ]
    chunk = min(args.batch_size, len(images)) if args.child == "batched" else 1
    temperature = cfg.temperatures[0]
    tokens = []

    def generate_all() -> None:
        tokens.clear()
        for i in range(0, len(images), chunk):
            part = images[i : i + chunk]
            out = backend.generate(part, [PAPER_QUESTION] * len(part), 0, temperature)
            tokens.extend(g.n_tokens for g in out)

    backend.generate(images[:chunk], [PAPER_QUESTION] * chunk, 0, temperature)  # warm-up
    best = min(timeit.repeat(generate_all, repeat=args.repeats, number=1))
    return {"gen_per_s": len(tokens) / best, "tok_per_s": sum(tokens) / best,
            "peak_rss_mb": peak_rss_mb()}  # fmt: skip


def _stage_gen_per_s(args, model: str, tmp: Path, workers: int) -> float:  # noqa: ANN001
    """Wall-clock generations/s of one `realign sample` run from scratch with `workers`."""
    cmd = [
        sys.executable, "-m", "realign_pipeline.cli", "sample", "--model", model,
        "--manifest", str(tmp / "manifests" / "train.parquet"), "--data-root", str(tmp / "data"),
        "--out", str(tmp / f"stage-{workers}"), "--metrics", str(tmp / f"stage-{workers}.json"),
        "--params", args.params, "-s", "tracking.enabled=false", "-s", "sample.seeds=[0]",
        "-s", f"sample.batch_size={args.batch_size}", "-s", f"sample.num_workers={workers}",
        "-s", f"sample.cpu_threads={args.threads}",
    ]  # fmt: skip
    start = timeit.default_timer()
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=CHILD_ENV)
    return json.loads(done.stdout)["counts"]["generated"] / (timeit.default_timer() - start)


def main() -> None:
    """Run both modes as children (or be one), then the stage; print the figures."""
    cli = parser(__doc__)
    cli.add_argument("--params", default=str(REPO / "params.yaml"))
    cli.add_argument("--model", default="", help="model folder (default: build the tiny one)")
    cli.add_argument("--images", type=int, default=32)
    cli.add_argument("--image-size", type=int, default=64)
    cli.add_argument("--batch-size", type=int, default=16)
    cli.add_argument("--repeats", type=int, default=2, help="timed passes per child (best)")
    cli.add_argument("--rounds", type=int, default=2, help="children per mode, alternated")
    cli.add_argument("--threads", type=int, default=1, help="torch threads in each child")
    cli.add_argument("--stage-images", type=int, default=48, help="0 = skip 1 vs 2 workers")
    cli.add_argument("--child", choices=["batched", "single"], help="time one mode")
    args = cli.parse_args()
    if args.child:
        print(json.dumps(_child(args)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        from realign_pipeline.tiny_models import build_tiny_vlm

        tiny = load_params(args.params).tiny_models
        model = args.model or str(build_tiny_vlm(Path(tmp) / "vlm", tiny, seed=0))
        argv = [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k != "child"]
        runs = {"single": [], "batched": []}
        for _ in range(args.rounds):  # alternate the modes so load changes hit both
            for mode in runs:
                runs[mode].append(child(__file__, *argv, f"--model={model}", f"--child={mode}"))
        single, batched = (max(runs[m], key=lambda r: r["gen_per_s"]) for m in runs)
        figures = [
            figure(f"sample generations/s, tiny VLM, batch {args.batch_size} vs 1 (CPU)",
                   batched["gen_per_s"], single["gen_per_s"], "gen/s", ">= 3x"),
            figure("sample generated tokens/s, batched vs one at a time",
                   batched["tok_per_s"], single["tok_per_s"], "tok/s"),
            figure("sample peak RSS of the process, batched vs one at a time",
                   batched["peak_rss_mb"], single["peak_rss_mb"], "MB"),
        ]  # fmt: skip
        if args.stage_images:
            from _synthetic import ingest, write_images

            write_images(Path(tmp) / "data", args.stage_images, size=args.image_size)
            ingest(Path(tmp) / "data", Path(tmp) / "manifests", args.params)
            one, two = (_stage_gen_per_s(args, model, Path(tmp), n) for n in (1, 2))
            figures.append(figure("sample stage generations/s, 2 workers vs 1 (tiny VLM, CPU, "
                                  "wall clock)", two, one, "gen/s"))  # fmt: skip
    report(figures)


if __name__ == "__main__":
    main()
