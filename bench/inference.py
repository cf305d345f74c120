"""Inference cost of the exported detector against the bare open_clip image encoder, one run.

Three models of the same architecture (random weights), fed the same pixel batches:
- exported: `load_detector` of a detector exported by the align code (LoRA merged, + MLP head);
- bare: open_clip's `CLIP.encode_image` (what a plain CLIP feature extractor costs);
- unmerged: the training-time PEFT model (LoRA not merged) + head.
Rounds interleave the models (in rotating order) so load from other processes hits all three
alike; the best time per batch counts (the least disturbed measure of each model's own cost).
Target: exported / bare <= 1.05 (merging removes LoRA's cost; the head is negligible next to the
tower). One torch thread by default: on a shared machine a single thread is far less disturbed by
other processes than a pool of threads, which waits for its slowest member (pass --threads 0 for
torch's default).

    python bench/inference.py                       # ViT-S-32 (224 px), batch 16
    python bench/inference.py --arch realign-tiny-vit --batch-size 32

Last stdout line: the figures as JSON for bench/run.py.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from realign_pipeline.align.models import create_clip, create_spec
from realign_pipeline.align.module import ReAlignModel, export_detector
from realign_pipeline.config import load_params
from realign_pipeline.detector import load_detector, save_detector

REPO = Path(__file__).resolve().parents[1]


def _models(arch: str) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    cfg = load_params(REPO / "params.yaml").align.model_copy(
        update={"model_name": arch, "pretrained": None, "finetune": "lora"}
    )
    bare = create_clip(arch, None, seed=0)
    bare.model.eval()
    trained = create_clip(arch, None, seed=0)
    model = ReAlignModel(trained.model, create_spec(trained, cfg, {"bench": True}), cfg).eval()
    with torch.no_grad():  # non-zero LoRA, as after training
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.01)
    with tempfile.TemporaryDirectory() as tmp:
        exported = load_detector(save_detector(export_detector(model), Path(tmp) / "det"))
    return {
        "exported": exported,
        "bare": lambda x: bare.model.encode_image(x),
        "unmerged": lambda x: model(x)[1],
    }


def _measure(models: dict, pixels: torch.Tensor, rounds: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in models}
    with torch.inference_mode():
        for fn in models.values():  # warmup
            fn(pixels)
        names = list(models)
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:  # rotate the order
                start = time.perf_counter()
                models[name](pixels)
                times[name].append(time.perf_counter() - start)
    return {name: len(pixels) / min(ts) for name, ts in times.items()}


def main() -> None:
    """Parse arguments, measure the three models, print the table and the JSON figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="ViT-S-32")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    models = _models(args.arch)
    size = models["exported"].spec.image_size
    pixels = torch.randn(args.batch_size, 3, size, size)
    ips = _measure(models, pixels, args.rounds)
    print(
        f"{'model':<10} {'images/s':>10}  ({args.arch}, batch {args.batch_size}, "
        f"best of {args.rounds}, threads {torch.get_num_threads()})"
    )
    for name, value in ips.items():
        print(f"{name:<10} {value:>10.2f}")
    cost = ips["bare"] / ips["exported"]
    figures = [
        {
            "figure": f"detect time per image, exported / bare encode_image ({args.arch})",
            "ours": 1 / ips["exported"],
            "baseline": 1 / ips["bare"],
            "unit": "s/img",
            "ratio": cost,
            "target": "<= 1.05",
        },
        {
            "figure": f"detect time per image, exported / unmerged PEFT ({args.arch})",
            "ours": 1 / ips["exported"],
            "baseline": 1 / ips["unmerged"],
            "unit": "s/img",
            "ratio": ips["unmerged"] / ips["exported"],
            "target": "< 1",
        },
    ]
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
