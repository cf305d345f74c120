"""The GPU figures, in one short script for a device session (paper-size architectures, random
weights, nothing downloaded):

1. GRPO step memory and speed: `bench/gpu_grpo.py` (Qwen2.5-VL-3B architecture, LoRA, the paper's
   GRPO settings), run as `realign grpo` through its launcher (`accelerate launch`, DeepSpeed
   ZeRO-3, one rank per visible GPU), the path `dvc repro` and the Kubernetes jobs take.
2. ReAlign alignment step: peak memory at the paper preset's batch size against the paper's 24 GB
   RTX 3090, and images/s (ViT-L-14-336, LoRA, bf16 autocast and gradient checkpointing as
   presets/paper.yaml sets them, through the align stage's own `train_step` with cached text
   embeddings). Median of `--steps` steps after one warm-up step.
3. Exported detector images/s at bf16 (ViT-L-14-336, LoRA merged, + head, exported by the align
   code: bench/align.py's detect part) against the bare open_clip `encode_image` of the same
   architecture, same inputs.

    python bench/gpu_check.py                 # needs a CUDA device; a few minutes on one H100
    python bench/gpu_check.py --skip-grpo     # only the alignment and detector figures

Prints one JSON list of figures on its last line and writes bench/gpu_results.json with the card.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import torch
from _harness import REPO, child, figure, interleaved, parser, report
from align import AlignStep, detect_times

BUDGET_GIB = 24.0


def align_figures(params: str, batch_size: int, steps: int) -> list[dict]:
    """Peak memory and images/s of the paper preset's align training step."""
    step = AlignStep(Path(params), None, batch_size or None)
    torch.cuda.reset_peak_memory_stats()
    # one warm-up step first: cuDNN/cuBLAS autotuning and the allocator's warm-up
    times = interleaved({"cached": step.cached}, rounds=steps)["cached"]
    peak_gib = torch.cuda.max_memory_allocated() / 2**30
    cfg = step.ctx.cfg
    setup = f"{cfg.model_name}, batch {cfg.batch_size}"
    print(f"{setup}, LoRA r={cfg.lora.r}, bf16 {cfg.bf16}, gradient checkpointing "
          f"{cfg.gradient_checkpointing}: peak {peak_gib:.2f} GiB")  # fmt: skip
    return [
        figure(f"align step peak GPU memory ({setup})", peak_gib, BUDGET_GIB, "GiB", "<= 1"),
        figure(f"align training images/s ({setup})", cfg.batch_size / statistics.median(times),
               None, "img/s"),
    ]  # fmt: skip


def detector_figures(arch: str, batch_size: int, repeats: int) -> list[dict]:
    """bf16 images/s of an exported detector vs the bare encode_image of the same architecture."""
    seconds = detect_times(arch, batch_size, repeats)
    name = f"detector images/s at bf16, exported vs bare encode_image ({arch})"
    return [figure(name, 1 / seconds["exported"], 1 / seconds["bare"], "images/s", ">= 0.95")]


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
