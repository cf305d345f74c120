"""GPU check: GRPO steps/s and peak GPU memory of the real Qwen2.5-VL-3B architecture with LoRA.

Randomly initialised from the architecture's config alone (no weights, no hub access), saved as
a local snapshot, then trained for a few steps by the grpo stage at the paper preset's settings
(presets/paper.yaml: bf16, gradient checkpointing, beta 0.04, 8 generations, 1024 completion
tokens, 512 image tokens per image) with LoRA on the language model's attention. vLLM is off
(transformers generation), so the generation part of a step is slower than on the cluster.

A random model never stops early: every completion runs to max_completion_length, which is the
memory worst case. The vocabulary keeps its real size (151936, so the logits cost what they
cost); the tokenizer is the tiny offline one padded with placeholder tokens to that size.

Run on a GPU machine: `python bench/gpu_grpo.py [--steps 4]`. `--tiny` runs the same code path
on the tiny architecture (CPU smoke test). The last stdout line is the figures as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

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


def _cfg(params, tiny: bool, steps: int):  # noqa: ANN001, ANN202
    from realign_pipeline.config import load_params

    paper = load_params(REPO_ROOT / "presets" / "paper.yaml").grpo
    update = {
        "max_steps": steps,
        "save_steps": 10_000,
        "use_vllm": False,
        "max_train_images": 64,
        "logging_steps": 1,
        "lora": paper.lora.model_copy(update={"enabled": True}),
        "eval": paper.eval.model_copy(
            update={"max_images": 8, "max_new_tokens": 32, "batch_size": 8, "baseline": False}
        ),
    }
    if tiny:  # CPU smoke test of this script: tiny sizes, fp32
        update.update(
            dtype="float32", bf16=False, gradient_checkpointing=False, max_completion_length=16,
            per_device_train_batch_size=4, num_generations=4, gradient_accumulation_steps=1,
            max_pixels=3136, min_pixels=784,
        )  # fmt: skip
    return paper.model_copy(update=update)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--tiny", action="store_true", help="tiny architecture on CPU")
    args = parser.parse_args()
    import torch
    from grpo import _images  # bench/grpo.py's seeded image set

    from realign_pipeline.config import load_params
    from realign_pipeline.grpo import run_grpo
    from realign_pipeline.tiny_models import build_tiny_vlm

    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    params = load_params(REPO_ROOT / "params.yaml")
    cfg = _cfg(params, args.tiny, args.steps)
    with tempfile.TemporaryDirectory(prefix="gpu-grpo-") as tmp:
        work = Path(tmp)
        _images(work / "data", "train", 32, seed=0)
        _images(work / "data", "val", 4, seed=1)
        model = build_tiny_vlm(work / "tiny", params.tiny_models, seed=0)
        if not args.tiny:
            model = _build_3b(work / "qwen25vl3b", model)
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):
            result = run_grpo(
                work / "manifests/train.parquet", work / "manifests/val.parquet", work / "data",
                work / "out", work / "grpo.json", work / "ckpt", cfg,
                seed=0, model=str(model), resume=False,
            )  # fmt: skip
        wall = time.perf_counter() - start
    peak_gb = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None
    step_s = result.metrics["train_step_time_s"]
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    arch = "tiny" if args.tiny else "Qwen2.5-VL-3B (random init)"
    print(json.dumps({"wall_s": round(wall, 1), **result.metrics}, indent=1), file=sys.stderr)
    print(
        json.dumps(
            [
                {"figure": f"GRPO steps/s, {arch}, LoRA, paper settings, {device}",
                 "ours": round(1 / step_s, 4), "baseline": None, "unit": "steps/s",
                 "ratio": None, "target": ""},
                {"figure": f"peak GPU memory, {arch}, LoRA, paper settings, {device}",
                 "ours": None if peak_gb is None else round(peak_gb, 2), "baseline": None,
                 "unit": "GiB", "ratio": None, "target": "< 80"},
            ]
        )
    )  # fmt: skip


if __name__ == "__main__":
    main()
