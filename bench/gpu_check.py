"""The GPU figures, in one short script for a device session (paper-size architectures, random
weights, nothing downloaded):

1. GRPO step memory and speed: `bench/gpu_grpo.py` (Qwen2.5-VL-3B architecture, LoRA, the paper's
   GRPO settings), run as `realign grpo` through its launcher (`accelerate launch`, DeepSpeed
   ZeRO-3, one rank per visible GPU), the path `dvc repro` and the Kubernetes jobs take.
2. ReAlign alignment step: peak memory at the paper preset's batch size against the paper's 24 GB
   RTX 3090, and images/s (ViT-L-14-336, LoRA, bf16 autocast and gradient checkpointing as
   presets/paper.yaml sets them, through the align stage's own `train_step` with cached text
   embeddings). Median of `--steps` steps after one warm-up step.
3. Exported detector images/s at bf16 (ViT-L-14-336 image encoder + head) against the bare
   open_clip `encode_image` of the same architecture, same inputs.

    python bench/gpu_check.py                 # needs a CUDA device; a few minutes on one H100
    python bench/gpu_check.py --skip-grpo     # only the alignment and detector figures

Prints one JSON list of figures on its last line and writes bench/gpu_results.json with the card.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import timeit

import torch
from _harness import REPO, child, figure, parser, report
from _synthetic import random_detector

BUDGET_GIB = 24.0


def _cuda_s(fn) -> float:  # noqa: ANN001 - a callable
    """Seconds of one `fn()` on the GPU (synchronised)."""
    torch.cuda.synchronize()
    return timeit.timeit(lambda: (fn(), torch.cuda.synchronize()), number=1)


def align_figures(params: str, batch_size: int, steps: int) -> list[dict]:
    """Peak memory and images/s of the paper preset's align training step."""
    from realign_pipeline.align.models import create_clip, create_spec
    from realign_pipeline.align.module import ReAlignModel
    from realign_pipeline.align.train import TrainContext, create_optimizer, train_step
    from realign_pipeline.config import load_params
    from realign_pipeline.tracking import Tracker

    cfg = load_params(params).align
    cfg = cfg.model_copy(update={"pretrained": None, "device": "cuda",
                                 "batch_size": batch_size or cfg.batch_size})  # fmt: skip
    bundle = create_clip(cfg.model_name, None, seed=0)
    model = ReAlignModel(bundle.model, create_spec(bundle, cfg, {}), cfg).cuda()
    optimizer, scheduler, _ = create_optimizer(model, cfg, total_steps=steps + 1)
    texts = torch.randn(cfg.batch_size, bundle.model_config["embed_dim"], device="cuda")
    ctx = TrainContext(cfg, 0, torch.device("cuda"), None, torch.nn.functional.normalize(texts),
                       lambda x: x, Tracker())  # fmt: skip
    size, n = model.spec.image_size, cfg.batch_size
    batch = (torch.randn(n, 3, size, size), torch.arange(n) % 2, torch.arange(n))
    torch.cuda.reset_peak_memory_stats()
    # the first step pays cuDNN/cuBLAS autotuning and the allocator's warm-up: not timed
    times = [_cuda_s(lambda: train_step(model, optimizer, scheduler, batch, ctx, epoch=0))
             for _ in range(steps + 1)][1:]  # fmt: skip
    peak_gib = torch.cuda.max_memory_allocated() / 2**30
    print(f"{cfg.model_name} LoRA r={cfg.lora.r} bf16={cfg.bf16} "
          f"grad_ckpt={cfg.gradient_checkpointing} batch={n}: peak {peak_gib:.2f} GiB")  # fmt: skip
    return [
        figure(f"align step peak GPU memory ({cfg.model_name}, batch {n})", peak_gib, BUDGET_GIB,
               "GiB", "<= 1"),
        figure(f"align training images/s ({cfg.model_name}, batch {n})",
               n / statistics.median(times), None, "img/s"),
    ]  # fmt: skip


def detector_figures(arch: str, batch_size: int, repeats: int) -> list[dict]:
    """bf16 images/s of an exported detector vs the bare encode_image of the same architecture."""
    import open_clip

    bare = open_clip.create_model(arch, pretrained=None).cuda().eval()
    detector = random_detector(arch, hidden_dim=512, normalize_input=False).cuda().eval()
    size = detector.spec.image_size
    batch = torch.randn(batch_size, 3, size, size, device="cuda")
    ips = {}
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
        for name, fn in (("ours", detector.predict_proba), ("bare", bare.encode_image)):
            for _ in range(3):  # warm-up
                fn(batch)
            seconds = _cuda_s(lambda f=fn: [f(batch) for _ in range(repeats)])
            ips[name] = repeats * batch_size / seconds
    return [figure(f"detector images/s at bf16, exported vs bare encode_image ({arch})",
                   ips["ours"], ips["bare"], "images/s", ">= 0.95")]  # fmt: skip


def main() -> int:
    """Run every GPU figure; print them and write bench/gpu_results.json."""
    cli = parser(__doc__)
    cli.add_argument("--skip-grpo", action="store_true")
    cli.add_argument("--params", default=str(REPO / "presets" / "paper.yaml"))
    cli.add_argument("--arch", default="ViT-L-14-336", help="detector architecture")
    cli.add_argument("--batch-size", type=int, default=64, help="detector batch")
    cli.add_argument("--align-batch-size", type=int, default=0, help="0: the preset's")
    cli.add_argument("--steps", type=int, default=3, help="align steps timed")
    cli.add_argument("--repeats", type=int, default=20, help="detector batches timed")
    args = cli.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: run this on a GPU machine", file=sys.stderr)
        return 2
    figures: list[dict] = []
    if not args.skip_grpo:
        try:
            figures += child(REPO / "bench" / "gpu_grpo.py")
        except RuntimeError as exc:  # the other figures are still worth having
            figures.append({"figure": "gpu_grpo.py", "error": str(exc)[-2000:]})
    figures += align_figures(args.params, args.align_batch_size, args.steps)
    figures += detector_figures(args.arch, args.batch_size, args.repeats)
    result = {"card": torch.cuda.get_device_name(0), "date": time.strftime("%Y-%m-%d"),
              "figures": figures}  # fmt: skip
    (REPO / "bench" / "gpu_results.json").write_text(json.dumps(result, indent=2) + "\n")
    report(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
