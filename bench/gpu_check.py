"""The GPU figures, in one short script for a device session (paper-size architectures, random
weights, nothing downloaded):

1. GRPO step memory and speed: `bench/gpu_grpo.py` (Qwen2.5-VL-3B architecture, LoRA, the paper's
   GRPO settings), run as `realign grpo` through its launcher (`accelerate launch`, DeepSpeed
   ZeRO-3, one rank per visible GPU), the path `dvc repro` and the Kubernetes jobs take.
2. ReAlign alignment step memory at the paper preset's batch size, against the 24 GB budget:
   `bench/gpu_align.py` (ViT-L-14-336, bf16 autocast, LoRA, gradient checkpointing).
3. Exported detector images/s at bf16 (ViT-L-14-336 image encoder + head) against the bare
   open_clip `encode_image` of the same architecture, same inputs.

    python bench/gpu_check.py                 # needs a CUDA device; a few minutes on one H100
    python bench/gpu_check.py --skip-grpo     # only the alignment and detector figures

Prints one JSON list of figures on its last line and writes bench/gpu_results.json with the card.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parent


def _child(script: str, *args: str) -> list[dict]:
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), *args], capture_output=True, text=True
    )
    if proc.returncode != 0:
        return [{"figure": script, "error": proc.stderr[-2000:]}]
    last = proc.stdout.strip().splitlines()[-1]
    data = json.loads(last)
    return data if isinstance(data, list) else [data]


def _images_per_s(fn, batch: torch.Tensor, repeats: int) -> float:
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
        for _ in range(3):
            fn(batch)
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(repeats):
            fn(batch)
        torch.cuda.synchronize()
    return repeats * batch.shape[0] / (time.perf_counter() - start)


def detector_figures(arch: str, batch_size: int, repeats: int) -> list[dict]:
    """bf16 images/s of an exported detector vs the bare encode_image of the same architecture."""
    import open_clip

    from realign_pipeline.detector import DetectorSpec, create_detector

    model = open_clip.create_model(arch, pretrained=None).cuda().eval()
    config = open_clip.get_model_config(arch)
    spec = DetectorSpec.model_validate(
        {
            "format_version": 1,
            "architecture": arch,
            "model_config": config,
            "image_size": int(config["vision_cfg"]["image_size"]),
            "mean": list(open_clip.OPENAI_DATASET_MEAN),
            "std": list(open_clip.OPENAI_DATASET_STD),
            "interpolation": "bicubic",
            "resize_mode": "shortest",
            "threshold": 0.5,
            "head": {
                "in_dim": int(config["embed_dim"]),
                "hidden_dim": 512,
                "normalize_input": False,
            },
            "provenance": {"source": "bench/gpu_check.py random weights"},
        }
    )
    detector = create_detector(spec).cuda().eval()
    size = spec.image_size
    batch = torch.randn(batch_size, 3, size, size, device="cuda")
    ours = _images_per_s(detector.predict_proba, batch, repeats)
    bare = _images_per_s(model.encode_image, batch, repeats)
    return [
        {
            "figure": f"detector images/s at bf16, exported vs bare encode_image ({arch})",
            "ours": ours,
            "baseline": bare,
            "unit": "images/s",
            "ratio": ours / bare,
            "target": ">= 0.95",
        }
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-grpo", action="store_true")
    parser.add_argument("--arch", default="ViT-L-14-336")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: run this on a GPU machine", file=sys.stderr)
        return 2
    figures: list[dict] = []
    if not args.skip_grpo:
        figures += _child("gpu_grpo.py")
    figures += _child("gpu_align.py")
    figures += detector_figures(args.arch, args.batch_size, args.repeats)
    result = {
        "card": torch.cuda.get_device_name(0),
        "date": time.strftime("%Y-%m-%d"),
        "figures": figures,
    }
    (BENCH / "gpu_results.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
