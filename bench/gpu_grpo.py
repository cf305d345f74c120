"""GPU check: GRPO steps/s and peak GPU memory of the real Qwen2.5-VL-3B architecture with LoRA.

A random Qwen2.5-VL-3B (from the architecture alone: no weights, no hub access; the real
vocabulary of 151936, so the logits cost what they cost, with the tiny offline tokenizer padded
to that size) is trained for `--steps` steps by `realign grpo` itself, through its launcher
(`accelerate launch`, `deploy/accelerate/zero3.yaml`, one rank per visible GPU, as `dvc repro`
and the Kubernetes jobs start it), at presets/paper.yaml's settings with LoRA and vLLM off. A
random model never stops early, so every completion runs to max_completion_length: the memory
worst case. The peak memory is the main rank's (`train_peak_gpu_memory_gb`).

    python bench/gpu_grpo.py [--steps 4] [--num-processes N]   # on a GPU machine
    python bench/gpu_grpo.py --tiny      # the same path on the tiny architecture, CPU smoke test
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

from _harness import REPO, figure, parser, report
from _synthetic import save_random_qwen, write_two_class

from realign_pipeline.launch import cli_command

# Qwen/Qwen2.5-VL-3B-Instruct's architecture (its published config.json)
QWEN25_VL_3B = {
    "vocab_size": 151936,
    "hidden_size": 2048,
    "intermediate_size": 11008,
    "num_hidden_layers": 36,
    "num_attention_heads": 16,
    "num_key_value_heads": 2,
    "max_position_embeddings": 128000,
    "rms_norm_eps": 1e-6,
    "rope_parameters": {
        "rope_type": "default",
        "rope_theta": 1000000.0,
        "mrope_section": [16, 24, 24],
    },
    "tie_word_embeddings": True,
    "vision_config": {
        "depth": 32,
        "hidden_size": 1280,
        "intermediate_size": 3420,
        "num_heads": 16,
        "out_hidden_size": 2048,
        "fullatt_block_indexes": [7, 15, 23, 31],
        "window_size": 112,
    },
}


def _build_3b(out: Path, tiny_dir: Path) -> Path:
    """Random Qwen2.5-VL-3B in bf16 with the tiny processor (tokenizer padded to 151936)."""
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_dir)
    missing = QWEN25_VL_3B["vocab_size"] - len(processor.tokenizer)
    processor.tokenizer.add_tokens([f"<|pad_{i}|>" for i in range(missing)])
    save_random_qwen(QWEN25_VL_3B, processor, out)
    return out


def _overrides(tiny: bool, steps: int, num_processes: int, launcher_config: str) -> list[str]:
    """`--set` values on top of presets/paper.yaml: a few LoRA steps without vLLM, small eval."""
    sets = {
        "grpo.max_steps": steps,
        "grpo.save_steps": 10_000,
        "grpo.use_vllm": "false",
        "grpo.max_train_images": 64,
        "grpo.logging_steps": 1,
        "grpo.lora.enabled": "true",
        "grpo.eval.max_images": 8,
        "grpo.eval.max_new_tokens": 32,
        "grpo.eval.batch_size": 8,
        "grpo.eval.baseline": "false",
        "grpo.launcher.config": launcher_config,
        "grpo.launcher.num_processes": num_processes,
        "tracking.enabled": "false",
    }
    if tiny:  # CPU smoke test of this script: tiny sizes, fp32
        sets.update({
            "grpo.dtype": "float32", "grpo.bf16": "false", "grpo.gradient_checkpointing": "false",
            "grpo.max_completion_length": 16, "grpo.per_device_train_batch_size": 4,
            "grpo.num_generations": 4, "grpo.gradient_accumulation_steps": 1,
            "grpo.max_pixels": 3136, "grpo.min_pixels": 784,
        })  # fmt: skip
    return [arg for key, value in sets.items() for arg in ("--set", f"{key}={value}")]


def main() -> None:
    cli = parser(__doc__)
    cli.add_argument("--steps", type=int, default=4)
    cli.add_argument("--tiny", action="store_true", help="tiny architecture on CPU")
    cli.add_argument("--num-processes", type=int, help="ranks (default: every visible GPU, or 1)")
    cli.add_argument("--launcher-config", help="accelerate config (default: zero3.yaml on GPU)")
    args = cli.parse_args()
    import torch

    from realign_pipeline.config import load_params
    from realign_pipeline.tiny_models import build_tiny_vlm

    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    params = load_params(REPO / "params.yaml")
    gpus = torch.cuda.device_count()
    num_processes = args.num_processes or max(gpus, 1)
    config = args.launcher_config or str(
        REPO / "deploy/accelerate" / ("zero3.yaml" if gpus else "cpu.yaml")
    )
    with tempfile.TemporaryDirectory(prefix="gpu-grpo-") as tmp:
        work = Path(tmp)
        write_two_class(work / "data", "train", 32, seed=0)
        write_two_class(work / "data", "val", 4, seed=1)
        model = build_tiny_vlm(work / "tiny", params.tiny_models, seed=0)
        if not args.tiny:
            model = _build_3b(work / "qwen25vl3b", model)
        # `realign grpo` itself, so the launcher path (accelerate launch with the config and
        # rank count from params) is what is measured, as dvc repro and the pods would run it
        cmd = cli_command(
            "grpo", "--params", str(REPO / "presets/paper.yaml"), "--model", str(model),
            "--manifest", str(work / "manifests/train.parquet"),
            "--val-manifest", str(work / "manifests/val.parquet"),
            "--data-root", str(work / "data"), "--out", str(work / "out"),
            "--metrics", str(work / "grpo.json"), "--checkpoints", str(work / "ckpt"),
            "--no-resume", *_overrides(args.tiny, args.steps, num_processes, config),
        )  # fmt: skip
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, cwd=REPO)
    if proc.returncode != 0:
        raise SystemExit(f"realign grpo failed with exit code {proc.returncode}")
    metrics = json.loads(proc.stdout)["metrics"]
    peak_gb = metrics.get("train_peak_gpu_memory_gb")  # GB = 1e9 bytes; the figure is in GiB
    device = torch.cuda.get_device_name(0) if gpus else "cpu"
    arch = "tiny" if args.tiny else "Qwen2.5-VL-3B (random init)"
    setup = f"{arch}, LoRA, paper settings, {num_processes} rank(s) via {Path(config).name}"
    print(json.dumps(metrics, indent=1), file=sys.stderr)
    report([
        figure(f"GRPO steps/s, {setup}, {device}", 1 / metrics["train_step_time_s"], None,
               "steps/s"),
        figure(f"peak GPU memory (main rank, torch allocator), {setup}, {device}",
               None if peak_gb is None else peak_gb / 1.073741824, None, "GiB", "< 80"),
    ])  # fmt: skip


if __name__ == "__main__":
    main()
