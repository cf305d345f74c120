"""GPU check: peak memory and images/s of one ReAlign training step in the paper configuration.

ViT-L-14-336 with random weights (no download; memory and speed do not depend on the values),
LoRA, bf16 autocast and gradient checkpointing as `presets/paper.yaml` sets them, at that
preset's batch size, through the align stage's own `train_step` with cached text embeddings.
The paper trained on one 24 GB RTX 3090, so peak allocated memory must stay under 24 GiB.

    python bench/gpu_align.py                         # needs a CUDA device
    python bench/gpu_align.py --batch-size 64 --steps 5

Last stdout line: the figures as JSON (not collected by bench/run.py, which skips gpu_*).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from realign_pipeline.align.models import create_clip, create_spec
from realign_pipeline.align.module import ReAlignModel
from realign_pipeline.align.train import TrainContext, create_optimizer, train_step
from realign_pipeline.config import load_params
from realign_pipeline.tracking import Tracker

REPO = Path(__file__).resolve().parents[1]
BUDGET_GIB = 24.0


def main() -> int:
    """Time a few training steps on the GPU and print the table and the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=REPO / "presets" / "paper.yaml")
    parser.add_argument("--batch-size", type=int, default=0, help="0: the preset's batch size")
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: this check needs a GPU", file=sys.stderr)
        return 1
    cfg = load_params(args.params).align
    cfg = cfg.model_copy(
        update={
            "pretrained": None,
            "device": "cuda",
            "batch_size": args.batch_size or cfg.batch_size,
        }
    )
    device = torch.device("cuda")
    bundle = create_clip(cfg.model_name, None, seed=0)
    model = ReAlignModel(bundle.model, create_spec(bundle, cfg, {}), cfg).to(device)
    optimizer, scheduler, _ = create_optimizer(model, cfg, total_steps=args.steps + 1)
    dim = bundle.model_config["embed_dim"]
    texts = torch.nn.functional.normalize(torch.randn(cfg.batch_size, dim, device=device), dim=-1)
    ctx = TrainContext(cfg, 0, device, None, texts, lambda x: x, Tracker())
    size = model.spec.image_size
    batch = (
        torch.randn(cfg.batch_size, 3, size, size),
        torch.arange(cfg.batch_size) % 2,
        torch.arange(cfg.batch_size),
    )
    torch.cuda.reset_peak_memory_stats()
    times = []
    for step in range(args.steps + 1):
        torch.cuda.synchronize()
        start = time.perf_counter()
        train_step(model, optimizer, scheduler, batch, ctx, epoch=0)
        torch.cuda.synchronize()
        if step > 0:  # first step: cuDNN/cuBLAS autotuning and allocator warmup
            times.append(time.perf_counter() - start)
    peak_gib = torch.cuda.max_memory_allocated() / 2**30
    ips = cfg.batch_size / statistics.median(times)
    print(
        f"{cfg.model_name} LoRA r={cfg.lora.r} bf16={cfg.bf16} "
        f"grad_ckpt={cfg.gradient_checkpointing} batch={cfg.batch_size} on "
        f"{torch.cuda.get_device_name(0)}"
    )
    print(f"peak allocated {peak_gib:.2f} GiB (budget {BUDGET_GIB} GiB), {ips:.1f} images/s")
    figures = [
        {
            "figure": f"align step peak GPU memory ({cfg.model_name}, batch {cfg.batch_size})",
            "ours": peak_gib,
            "baseline": BUDGET_GIB,
            "unit": "GiB",
            "ratio": peak_gib / BUDGET_GIB,
            "target": "<= 1",
        },
        {
            "figure": f"align training images/s ({cfg.model_name}, batch {cfg.batch_size})",
            "ours": ips,
            "baseline": None,
            "unit": "img/s",
            "ratio": None,
            "target": "",
        },
    ]
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
