"""Training-step cost with cached text embeddings against running the text tower every step.

Both variants run the real `train_step` of the align stage (LoRA image tower + head, AdamW,
contrastive + 8 x BCE) on the same random pixel batches and the same texts, on one architecture:
- cached: text embeddings come from the frozen tower once, before training (what `realign align`
  does; not timed, it is a one-off per unique text);
- tower: every step tokenizes the batch's texts and runs the frozen text tower (no grad).
Step times come from one child process that alternates the two variants step by step (load
from other processes hits both alike; the median counts). Peak memory (max RSS on CPU, peak
allocated on CUDA) comes from one child process per variant, so each peak is its own.

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


class _Bench:
    """One LoRA ReAlign model, optimizer, batch and texts; `step(variant)` runs one step."""

    def __init__(self, arch: str, batch: int) -> None:
        from realign_pipeline.align.models import create_clip, create_spec
        from realign_pipeline.align.module import ReAlignModel
        from realign_pipeline.align.text_cache import encode_texts
        from realign_pipeline.align.train import create_optimizer
        from realign_pipeline.config import load_params

        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.cfg = load_params(REPO / "params.yaml").align.model_copy(
            update={"model_name": arch, "pretrained": None, "bf16": self.device.type == "cuda"}
        )
        bundle = create_clip(arch, None, seed=0)
        bundle.model.to(self.device)
        self.tokenizer = bundle.tokenizer
        self.texts = _texts(batch)
        self.cached = encode_texts(  # the one-off cache fill, not timed
            bundle.model, bundle.tokenizer, self.texts, batch_size=batch, device=self.device
        )
        spec = create_spec(bundle, self.cfg, {})
        self.model = ReAlignModel(bundle.model, spec, self.cfg).to(self.device)
        self.optimizer, _, _ = create_optimizer(self.model, self.cfg, total_steps=100)
        size = spec.image_size
        self.pixels = torch.randn(batch, 3, size, size, device=self.device)
        self.labels = torch.arange(batch, device=self.device) % 2

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def step(self, variant: str) -> float:
        """Seconds of one training step; `tower` re-encodes the texts first."""
        from realign_pipeline.align.losses import compute_losses, loss_weights

        self._sync()
        start = time.perf_counter()
        if variant == "tower":
            text = self.model.encode_text(self.tokenizer(self.texts).to(self.device))
        else:
            text = self.cached
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.cfg.bf16):
            emb, logits = self.model(self.pixels)
        weights = loss_weights(self.cfg, 0)
        losses = compute_losses(emb, text, logits, self.labels, self.model.logit_scale(), weights)
        self.optimizer.zero_grad(set_to_none=True)
        losses.total.backward()
        self.optimizer.step()
        self._sync()
        return time.perf_counter() - start


def _child(arch: str, mode: str, batch: int, steps: int) -> dict[str, float | str]:
    """timing: both variants interleaved step by step (so load from other processes hits both
    alike), median per variant; cached/tower: one variant only, for its peak memory."""
    bench = _Bench(arch, batch)
    if mode == "timing":
        times: dict[str, list[float]] = {"cached": [], "tower": []}
        bench.step("cached")  # warmup: allocators, kernels
        bench.step("tower")
        for _ in range(steps):
            for variant in times:
                times[variant].append(bench.step(variant))
        out: dict[str, float | str] = {k: statistics.median(v) for k, v in times.items()}
        out["device"] = bench.device.type
        return out
    if bench.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for _ in range(2):
        bench.step(mode)
    if bench.device.type == "cuda":
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"peak_mb": peak_mb}


def _run_child(args: argparse.Namespace, mode: str) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        mode,
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
    parser.add_argument("--child", choices=["timing", "cached", "tower"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.arch, args.child, args.batch_size, args.steps)))
        return
    timing = _run_child(args, "timing")
    memory = {v: _run_child(args, v)["peak_mb"] for v in ("cached", "tower")}
    cached = {"step_s": timing["cached"], "peak_mb": memory["cached"]}
    tower = {"step_s": timing["tower"], "peak_mb": memory["tower"]}
    unit = "peak allocated MiB" if timing["device"] == "cuda" else "max RSS MiB"
    print(
        f"{'variant':<8} {'step s':>8} {unit:>20}  ({args.arch}, batch {args.batch_size}, "
        f"median of {args.steps} interleaved steps, {timing['device']})"
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
