"""Align stage costs, each against what it replaced, on random-weight models (no download).

- data: time per epoch of the align stage's `ImageDataset` + `DataLoader` (main process, ViT-B/16
  evaluation transform) over `--images` JPEGs: `ImagePixels` with a budget (each file decoded
  once by the check pass, epochs only normalise the kept pixels: what `realign align` does)
  against one without (every epoch decodes and resizes every file again). Median of `--epochs`.
- step: the align stage's `train_step` on `--arch` with cached text embeddings (computed once,
  what `realign align` does) against tokenizing the batch's texts and running the frozen text
  tower every step. Median of `--steps` interleaved steps; peak memory (max RSS on CPU, peak
  allocated on CUDA) from one child process per variant, so each peak is its own.
- detect: time per image of the exported detector (`load_detector`: LoRA merged, + MLP head)
  against the bare open_clip `encode_image` and the unmerged training-time PEFT model, same
  pixel batches. Best of `--rounds` interleaved rounds, `--threads` torch threads (one thread is
  far less disturbed by other processes on a shared machine; 0: torch's default).

    python bench/align.py                                 # ViT-S-32, every part
    python bench/align.py --parts detect --arch realign-tiny-vit --detect-batch 32
"""

from __future__ import annotations

import collections
import dataclasses
import json
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch
from _harness import REPO, child, figure, interleaved, parser, peak_rss_mb, report
from PIL import Image
from torch.utils.data import DataLoader

_WORDS = "the light on the left cheek is smooth while the hair strands merge into the wall".split()


def _write_jpegs(root: Path, n: int, size: int) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = [root / f"{i:04d}.jpg" for i in range(n)]
    for path in paths:  # smooth noise compresses like a photo rather than like white noise
        small = rng.integers(0, 256, (size // 16, size * 3 // 64, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((size, size * 3 // 4), Image.Resampling.BICUBIC)
        image.save(path, quality=90)
    return paths


def data_figures(args) -> list[dict]:  # noqa: ANN001 - the parsed arguments
    """Time per epoch, decoded-once pixels vs decoding every epoch."""
    from open_clip import image_transform

    from realign_pipeline.align.data import ImageDataset, ImagePixels

    torch.set_num_threads(1)
    transform = image_transform(224, is_train=False)
    with tempfile.TemporaryDirectory() as tmp:
        paths = _write_jpegs(Path(tmp), args.images, args.size)
        labels, items = [i % 2 for i in range(len(paths))], [(i, -1) for i in range(len(paths))]
        datasets = {}
        for name, budget in (("kept", 2**30), ("decode", 0)):
            pixels = ImagePixels(transform, cache_bytes=budget)
            assert not pixels.check(paths, desc=f"check ({name})")
            datasets[name] = ImageDataset(paths, labels, items, pixels)
        epochs = {
            name: lambda d=dataset: collections.deque(DataLoader(d, batch_size=args.data_batch), 0)
            for name, dataset in datasets.items()
        }
        times = interleaved(epochs, rounds=args.epochs, warmup=0)
        for kept, decoded in zip(datasets["kept"], datasets["decode"], strict=True):
            assert torch.equal(kept[0], decoded[0])  # same model inputs either way
    kept, decode = (statistics.median(times[name]) for name in ("kept", "decode"))
    name = "align data time per epoch, decoded-once pixels / decode every epoch"
    return [figure(name, kept, decode, "s/epoch", "< 0.5")]


class AlignStep:
    """One LoRA ReAlign model, optimizer and batch of the `align` section of `params` (random
    weights, on the GPU when there is one); `cached()` / `tower()` run one train step."""

    def __init__(self, params: Path, arch: str | None, batch: int | None) -> None:
        from realign_pipeline.align.models import create_clip, create_spec
        from realign_pipeline.align.module import ReAlignModel
        from realign_pipeline.align.text_cache import encode_texts
        from realign_pipeline.align.train import TrainContext, create_optimizer
        from realign_pipeline.config import load_params
        from realign_pipeline.tracking import Tracker

        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        cfg = load_params(params).align
        cfg = cfg.model_copy(update={"model_name": arch or cfg.model_name, "pretrained": None,
                                     "bf16": device.type == "cuda",
                                     "batch_size": batch or cfg.batch_size})  # fmt: skip
        batch = cfg.batch_size
        bundle = create_clip(cfg.model_name, None, seed=0)
        bundle.model.to(device)
        self.tokenizer, self.device = bundle.tokenizer, device
        self.texts = [
            f"This is a {'fake' if i % 2 else 'real'} image. "
            + " ".join(_WORDS[(i + k) % len(_WORDS)] for k in range(60))
            for i in range(batch)
        ]
        cached = encode_texts(  # the one-off cache fill, not timed
            bundle.model, bundle.tokenizer, self.texts, batch_size=batch, device=device
        )
        self.model = ReAlignModel(bundle.model, create_spec(bundle, cfg, {}), cfg).to(device)
        self.optimizer, self.scheduler, _ = create_optimizer(self.model, cfg, total_steps=10**6)
        self.ctx = TrainContext(cfg, 0, device, None, cached, lambda x: x, Tracker())
        size = self.model.spec.image_size
        self.batch = (torch.randn(batch, 3, size, size), torch.arange(batch) % 2,
                      torch.arange(batch))  # fmt: skip

    def _run(self, ctx) -> None:  # noqa: ANN001 - TrainContext
        from realign_pipeline.align.train import train_step

        train_step(self.model, self.optimizer, self.scheduler, self.batch, ctx, epoch=0)
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def cached(self) -> None:
        self._run(self.ctx)

    def tower(self) -> None:
        with torch.no_grad():
            text = self.model.encode_text(self.tokenizer(self.texts).to(self.device))
        self._run(dataclasses.replace(self.ctx, text_embeddings=text))


def _step_memory(arch: str, variant: str, batch: int) -> dict:
    """Child process: peak memory of two steps of one variant."""
    step = AlignStep(REPO / "params.yaml", arch, batch)
    if step.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for _ in range(2):
        getattr(step, variant)()
    if step.device.type == "cuda":
        return {"peak_mb": torch.cuda.max_memory_allocated() / 2**20}
    return {"peak_mb": peak_rss_mb()}


def step_figures(args) -> list[dict]:  # noqa: ANN001 - the parsed arguments
    """Step time and peak memory, cached text embeddings vs the text tower every step."""
    step = AlignStep(REPO / "params.yaml", args.arch, args.step_batch)
    times = interleaved({"cached": step.cached, "tower": step.tower}, rounds=args.steps)
    cached, tower = (statistics.median(times[name]) for name in ("cached", "tower"))
    memory = ["--arch", args.arch, "--step-batch", args.step_batch]
    peak = {v: child(__file__, "--child", v, *memory)["peak_mb"] for v in ("cached", "tower")}
    return [
        figure(f"align step time, cached text / text tower every step ({args.arch})",
               cached, tower, "s/step", "< 1"),
        figure(f"align step peak memory, cached text / text tower ({args.arch})",
               peak["cached"], peak["tower"], "MiB", "<= 1"),
    ]  # fmt: skip


def detect_times(arch: str, batch: int, rounds: int) -> dict[str, float]:
    """Best seconds per image of the exported detector, the bare `encode_image` and the unmerged
    PEFT model over the same pixels (on the GPU when there is one, at bf16)."""
    from realign_pipeline.align.models import create_clip, create_spec
    from realign_pipeline.align.module import ReAlignModel, export_detector
    from realign_pipeline.config import load_params
    from realign_pipeline.detector import load_detector, save_detector

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    cfg = load_params(REPO / "params.yaml").align.model_copy(
        update={"model_name": arch, "pretrained": None, "finetune": "lora"}
    )
    bare = create_clip(arch, None, seed=0).model.eval().to(device)
    trained = create_clip(arch, None, seed=0)
    model = ReAlignModel(trained.model, create_spec(trained, cfg, {"bench": True}), cfg).eval()
    with torch.no_grad():  # non-zero LoRA, as after training
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.01)
    with tempfile.TemporaryDirectory() as tmp:
        exported = load_detector(save_detector(export_detector(model), Path(tmp) / "det"))
    exported, model = exported.to(device), model.to(device)
    size = exported.spec.image_size
    pixels = torch.randn(batch, 3, size, size, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else lambda: None
    calls = {"exported": exported, "bare": bare.encode_image, "unmerged": lambda x: model(x)[1]}
    with torch.inference_mode(), torch.autocast(device.type, torch.bfloat16, device.type == "cuda"):
        times = interleaved({k: lambda f=f: (f(pixels), sync()) for k, f in calls.items()}, rounds)
    return {name: min(t) / batch for name, t in times.items()}


def detect_figures(args) -> list[dict]:  # noqa: ANN001 - the parsed arguments
    """Time per image of the exported detector vs bare encode_image and unmerged PEFT."""
    if args.threads:
        torch.set_num_threads(args.threads)
    per_image = detect_times(args.arch, args.detect_batch, args.rounds)
    return [
        figure(f"detect time per image, exported / bare encode_image ({args.arch})",
               per_image["exported"], per_image["bare"], "s/img", "<= 1.05"),
        figure(f"detect time per image, exported / unmerged PEFT ({args.arch})",
               per_image["exported"], per_image["unmerged"], "s/img", "< 1"),
    ]  # fmt: skip


PARTS = {"step": step_figures, "data": data_figures, "detect": detect_figures}


def main() -> None:
    """Run the chosen parts (or be a memory child) and print the figures."""
    cli = parser(__doc__)
    cli.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    cli.add_argument("--arch", default="ViT-S-32", help="step and detect architecture")
    cli.add_argument("--images", type=int, default=96, help="data: JPEGs")
    cli.add_argument("--size", type=int, default=512, help="data: width of the JPEGs")
    cli.add_argument("--epochs", type=int, default=5, help="data: epochs per variant")
    cli.add_argument("--data-batch", type=int, default=32)
    cli.add_argument("--step-batch", type=int, default=8)
    cli.add_argument("--steps", type=int, default=3, help="step: timed steps per variant")
    cli.add_argument("--detect-batch", type=int, default=16)
    cli.add_argument("--rounds", type=int, default=8, help="detect: timed rounds")
    cli.add_argument("--threads", type=int, default=1, help="detect: torch threads (0: default)")
    cli.add_argument("--child", choices=["cached", "tower"], help="one step variant's memory")
    args = cli.parse_args()
    if args.child:
        print(json.dumps(_step_memory(args.arch, args.child, args.step_batch)))
        return
    # step first: data and detect set torch's threads to 1, step runs with torch's default
    report([fig for part in PARTS if part in args.parts for fig in PARTS[part](args)])


if __name__ == "__main__":
    main()
