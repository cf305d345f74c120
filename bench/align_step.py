"""Training-step cost with cached text embeddings against running the text tower every step.

Both variants run the real `train_step` of the align stage (LoRA image tower + head, AdamW,
contrastive + 8 x BCE) on the same random pixel batches and the same texts, on one architecture:
- cached: text embeddings come from the frozen tower once, before training (what `realign align`
  does; not timed, it is a one-off per unique text);
- tower: every step tokenizes the batch's texts and runs the frozen text tower (no grad).
Each variant runs in its own child process so that peak memory (max RSS on CPU, peak allocated
on CUDA) is its own. The median step time counts.

    python bench/align_step.py                      # ViT-S-32, batch 8, CPU
    python bench/align_step.py --arch realign-tiny-vit --batch-size 16

Last stdout line: the figures as JSON for bench/run.py.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
_WORDS = "the light on the left cheek is smooth while the hair strands merge into the wall".split()


def _texts(n: int) -> list[str]:
    return [
        f"This is a {'fake' if i % 2 else 'real'} image. "
        + " ".join(_WORDS[(i + k) % len(_WORDS)] for k in range(60))
        for i in range(n)
    ]


def _child(arch: str, variant: str, batch: int, steps: int) -> dict[str, float]:
    from realign_pipeline.align.losses import compute_losses, loss_weights
    from realign_pipeline.align.models import create_clip, create_spec
    from realign_pipeline.align.module import ReAlignModel
    from realign_pipeline.align.text_cache import encode_texts
    from realign_pipeline.align.train import create_optimizer
    from realign_pipeline.config import load_params

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cfg = load_params(REPO / "params.yaml").align.model_copy(
        update={"model_name": arch, "pretrained": None, "bf16": device.type == "cuda"}
    )
    bundle = create_clip(arch, None, seed=0)
    bundle.model.to(device)
    texts = _texts(batch)
    cached = None
    if variant == "cached":  # the one-off cache fill, not timed
        cached = encode_texts(
            bundle.model, bundle.tokenizer, texts, batch_size=batch, device=device
        )
    model = ReAlignModel(bundle.model, create_spec(bundle, cfg, {}), cfg).to(device)
    optimizer, _, _ = create_optimizer(model, cfg, total_steps=steps + 1)
    size = model.spec.image_size
    pixels = torch.randn(batch, 3, size, size, device=device)
    labels = torch.arange(batch, device=device) % 2
    weights = loss_weights(cfg, 0)
    times = []
    for step in range(steps + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        if variant == "tower":
            text = model.encode_text(bundle.tokenizer(texts).to(device))
        else:
            text = cached.to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
            emb, logits = model(pixels)
        losses = compute_losses(emb, text, logits, labels, model.logit_scale(), weights)
        optimizer.zero_grad(set_to_none=True)
        losses.total.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step > 0:  # the first step warms up allocators and kernels
            times.append(time.perf_counter() - start)
    if device.type == "cuda":
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"step_s": statistics.median(times), "peak_mb": peak_mb, "device": device.type}


def _run_child(args: argparse.Namespace, variant: str) -> dict[str, float]:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        variant,
        "--arch",
        args.arch,
        "--batch-size",
        str(args.batch_size),
        "--steps",
        str(args.steps),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    """Run both variants as children (or be one) and print the table and the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="ViT-S-32")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--child", choices=["cached", "tower"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.arch, args.child, args.batch_size, args.steps)))
        return
    cached, tower = _run_child(args, "cached"), _run_child(args, "tower")
    unit = "peak allocated MiB" if cached["device"] == "cuda" else "max RSS MiB"
    print(
        f"{'variant':<8} {'step s':>8} {unit:>20}  ({args.arch}, batch {args.batch_size}, "
        f"median of {args.steps} steps, {cached['device']})"
    )
    for name, row in (("cached", cached), ("tower", tower)):
        print(f"{name:<8} {row['step_s']:>8.3f} {row['peak_mb']:>20.0f}")
    figures = [
        {
            "figure": f"align step time, cached text / text tower every step ({args.arch})",
            "ours": cached["step_s"],
            "baseline": tower["step_s"],
            "unit": "s/step",
            "ratio": cached["step_s"] / tower["step_s"],
            "target": "< 1",
        },
        {
            "figure": f"align step peak memory, cached text / text tower ({args.arch})",
            "ours": cached["peak_mb"],
            "baseline": tower["peak_mb"],
            "unit": "MiB",
            "ratio": cached["peak_mb"] / tower["peak_mb"],
            "target": "<= 1",
        },
    ]
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
