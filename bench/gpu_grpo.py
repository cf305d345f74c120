"""GPU check: GRPO steps/s and peak GPU memory of the real Qwen2.5-VL-3B architecture with LoRA.

Randomly initialised from the architecture's config alone (no weights, no hub access), saved as
a local snapshot, then trained for a few steps by the grpo stage at the paper preset's settings
(presets/paper.yaml: bf16, gradient checkpointing, beta 0.04, 8 generations, 1024 completion
tokens, 512 image tokens per image) with LoRA on the language model's attention. vLLM is off
(transformers generation), so the generation part of a step is slower than on the cluster.

A random model never stops early: every completion runs to max_completion_length, which is the
memory worst case. The vocabulary keeps its real size (151936, so the logits cost what they
cost); the tokenizer is the tiny offline one padded with placeholder tokens to that size.

The run is `realign grpo` itself, through its launcher: `accelerate launch` with
`deploy/accelerate/zero3.yaml` (DeepSpeed ZeRO-3) and one rank per visible GPU, as `dvc repro`
and the Kubernetes jobs start it; the peak memory is the main rank's (`train_peak_gpu_memory_gb`).

Run on a GPU machine: `python bench/gpu_grpo.py [--steps 4] [--num-processes N]`. `--tiny` runs
the same path on the tiny architecture (CPU smoke test, `deploy/accelerate/cpu.yaml`). The last
stdout line is the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from realign_pipeline.launch import cli_command

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "bench"))

# Qwen/Qwen2.5-VL-3B-Instruct's architecture (its published config.json).
QWEN25_VL_3B_TEXT = {
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
}
QWEN25_VL_3B_VISION = {
    "depth": 32,
    "hidden_size": 1280,
    "intermediate_size": 3420,
    "num_heads": 16,
    "out_hidden_size": 2048,
    "fullatt_block_indexes": [7, 15, 23, 31],
    "window_size": 112,
}


def _build_3b(out: Path, tiny_dir: Path) -> Path:
    """Random Qwen2.5-VL-3B in bf16 with the tiny processor (tokenizer padded to 151936)."""
    import torch
    from transformers import AutoProcessor, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    processor = AutoProcessor.from_pretrained(tiny_dir)
    tokenizer = processor.tokenizer
    missing = QWEN25_VL_3B_TEXT["vocab_size"] - len(tokenizer)
    tokenizer.add_tokens([f"<|pad_{i}|>" for i in range(missing)])
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in ("<|image_pad|>", "<|video_pad|>")}
    special = {
        "bos_token_id": tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        "eos_token_id": tokenizer.convert_tokens_to_ids("<|im_end|>"),
        "pad_token_id": tokenizer.convert_tokens_to_ids("<|endoftext|>"),
    }
    config = Qwen2_5_VLConfig(
        text_config={**QWEN25_VL_3B_TEXT, **special},
        vision_config=QWEN25_VL_3B_VISION,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=tokenizer.convert_tokens_to_ids("<|vision_start|>"),
        vision_end_token_id=tokenizer.convert_tokens_to_ids("<|vision_end|>"),
        tie_word_embeddings=True,
        **special,
    )
    torch.manual_seed(0)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = Qwen2_5_VLForConditionalGeneration(config).to(torch.bfloat16)
    model.save_pretrained(out)
    processor.save_pretrained(out)
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--tiny", action="store_true", help="tiny architecture on CPU")
    parser.add_argument(
        "--num-processes", type=int, default=None, help="ranks (default: every visible GPU, or 1)"
    )
    parser.add_argument(
        "--launcher-config", default=None, help="accelerate config (default: zero3.yaml on GPU)"
    )
    args = parser.parse_args()
    import torch
    from grpo import _images  # bench/grpo.py's seeded image set

    from realign_pipeline.config import load_params
    from realign_pipeline.tiny_models import build_tiny_vlm

    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    params = load_params(REPO_ROOT / "params.yaml")
    gpus = torch.cuda.device_count()
    num_processes = args.num_processes or max(gpus, 1)
    config = args.launcher_config or str(
        REPO_ROOT / "deploy/accelerate" / ("zero3.yaml" if gpus else "cpu.yaml")
    )
    with tempfile.TemporaryDirectory(prefix="gpu-grpo-") as tmp:
        work = Path(tmp)
        _images(work / "data", "train", 32, seed=0)
        _images(work / "data", "val", 4, seed=1)
        model = build_tiny_vlm(work / "tiny", params.tiny_models, seed=0)
        if not args.tiny:
            model = _build_3b(work / "qwen25vl3b", model)
        # `realign grpo` itself, so the launcher path (accelerate launch with the config and
        # rank count from params) is what is measured, as dvc repro and the pods would run it
        cmd = cli_command(
            "grpo", "--params", str(REPO_ROOT / "presets/paper.yaml"), "--model", str(model),
            "--manifest", str(work / "manifests/train.parquet"),
            "--val-manifest", str(work / "manifests/val.parquet"),
            "--data-root", str(work / "data"), "--out", str(work / "out"),
            "--metrics", str(work / "grpo.json"), "--checkpoints", str(work / "ckpt"),
            "--no-resume", *_overrides(args.tiny, args.steps, num_processes, config),
        )  # fmt: skip
        start = time.perf_counter()
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
        wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"realign grpo failed with exit code {proc.returncode}")
    metrics = json.loads(proc.stdout)["metrics"]
    peak_gb = metrics.get("train_peak_gpu_memory_gb")
    step_s = metrics["train_step_time_s"]
    device = torch.cuda.get_device_name(0) if gpus else "cpu"
    arch = "tiny" if args.tiny else "Qwen2.5-VL-3B (random init)"
    setup = f"{arch}, LoRA, paper settings, {num_processes} rank(s) via {Path(config).name}"
    print(json.dumps({"wall_s": round(wall, 1), **metrics}, indent=1), file=sys.stderr)
    print(
        json.dumps(
            [
                {"figure": f"GRPO steps/s, {setup}, {device}",
                 "ours": round(1 / step_s, 4), "baseline": None, "unit": "steps/s",
                 "ratio": None, "target": ""},
                {"figure": f"peak GPU memory (main rank, torch allocator), {setup}, {device}",
                 "ours": None if peak_gb is None else round(peak_gb / 1.073741824, 2),
                 "baseline": None, "unit": "GiB", "ratio": None, "target": "< 80"},
            ]
        )
    )  # fmt: skip


if __name__ == "__main__":
    main()
