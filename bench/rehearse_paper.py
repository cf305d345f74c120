"""Rehearse the paper preset on CPU: the real architectures, random weights, one step per GPU stage.

Reads presets/paper.yaml and, for each GPU stage, builds what the preset names and runs it
through the stage's own code, printing one line per stage (ran / validated only / failed: error)
and a final JSON line. What is cut, and why, is printed with each line.

- sample: a Qwen2.5-VL built from Qwen2.5-VL-7B-Instruct's own config.json and
  preprocessor_config.json (shipped in `realign_pipeline/model_configs/qwen2_5_vl_7b_instruct/`,
  no weights): vocabulary 152064, hidden 3584, 28 heads / 4 KV heads, MLP 18944, vision tower
  1280 wide with 14 px patches, 2x2 merge and 112 px windows, the Qwen2-VL chat template, the
  preset's pixel bounds, dtype (bfloat16), system prompt and questions. Cut: 1 decoder layer
  (of 28) and 1 vision block (of 32; its only block does full attention), `--new-tokens` new
  tokens (preset: max_new_tokens). The tokenizer is this project's offline byte-level BPE with
  Qwen's special tokens (the real 151k-token tokenizer is not shipped), so the special-token ids
  in the config are set to that tokenizer's. One batched generation of `--images` images through
  `TransformersBackend` (the stage's backend).
- grpo: TRL's GRPOConfig (with use_vllm, vllm_mode, vllm_max_model_length, sleep mode), the
  PEFT config, the accelerate/DeepSpeed launch command and its config file are built from the
  preset. Then, when MemAvailable is at least `--grpo-min-free-gb` (18 GB; the step peaks at
  about 15.7 GB of RSS: bf16 policy, reference copy for beta > 0, gradients and AdamW states of
  the 1.4B-parameter full-vocabulary model), one GRPO step runs through `run_grpo` on the
  snapshot sample built (the preset's chat template, system prompt, pixel bounds, beta, lr,
  loss), then its export and greedy evaluation. Cut: use_vllm off and no DeepSpeed (CPU), 1 image
  x 2 generations, `--new-tokens` completion tokens, 1 decoder layer, bf16 weights without
  autocast. With less memory the line says "validated only" and why.
- align: the preset's CLIP (ViT-L-14-336, random init instead of `openai` weights) with its
  LoRA targets, head and loss, one epoch of 2 steps at batch 2 (preset: 32) through `run_align`,
  the export, `load_detector`, and one detection with the preset's evaluation transform
  (`evaluate.preprocessing`).

Each line also shows the GPU memory the stage needs at the preset's batch sizes against its
budget (80 GB for grpo and sample, 24 GB for align): activations per token measured on CPU from
what autograd saves, scaled to the preset's sequences, batch and depth, plus weights, gradients
and optimizer states from the full parameter count (see `_rehearse_memory.py`). Peak RSS growth
of each stage is a CPU figure.

Run from the repository root: `python bench/rehearse_paper.py [--preset presets/paper.yaml]`
(3.5 minutes measured with the GRPO step on 2 shared CPU cores; earlier runs without it
took 1.3 to 13 minutes, by the load of other jobs).
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _rehearse_memory as mem
import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
MEASURED: dict[str, Any] = {}  # sample's per-token activations, reused for grpo's estimate
QWEN_DIR = REPO_ROOT / "src" / "realign_pipeline" / "model_configs" / "qwen2_5_vl_7b_instruct"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _images(root: Path, n: int, size: int) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        label = ("0_real", "1_fake")[i % 2]
        path = root / "gen" / label / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def _full_config() -> Any:
    """The uncut Qwen2.5-VL-7B config (as shipped)."""
    from transformers import Qwen2_5_VLConfig

    return Qwen2_5_VLConfig(**json.loads((QWEN_DIR / "config.json").read_text(encoding="utf-8")))


def build_paper_vlm(out: Path, params: Any, min_pixels: int, max_pixels: int) -> dict:
    """Save a Qwen2.5-VL-7B-shaped snapshot (cut depth, random bf16 weights) to `out`."""
    import torch
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    from realign_pipeline.tiny_models.vlm import QWEN_CHAT_TEMPLATE, _build_tokenizer

    raw = json.loads((QWEN_DIR / "config.json").read_text(encoding="utf-8"))
    pre = json.loads((QWEN_DIR / "preprocessor_config.json").read_text(encoding="utf-8"))
    tokenizer = _build_tokenizer(
        params.tiny_models.model_copy(update={"max_position_embeddings": 128000})
    )
    ids = {
        "bos_token_id": "<|endoftext|>", "pad_token_id": "<|endoftext|>",
        "eos_token_id": "<|im_end|>", "vision_start_token_id": "<|vision_start|>",
        "vision_end_token_id": "<|vision_end|>", "image_token_id": "<|image_pad|>",
        "video_token_id": "<|video_pad|>",
    }  # fmt: skip
    raw.update({key: tokenizer.convert_tokens_to_ids(tok) for key, tok in ids.items()})
    cut = {"num_hidden_layers": 1, "max_window_layers": 1}
    raw.update(cut)
    raw["vision_config"].update({"depth": 1, "fullatt_block_indexes": [0]})
    config = Qwen2_5_VLConfig(**raw)
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    try:
        model = Qwen2_5_VLForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(torch.float32)
    model.generation_config.eos_token_id = raw["eos_token_id"]
    model.generation_config.pad_token_id = raw["pad_token_id"]
    n_params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(out)
    del model
    image_kwargs = {k: v for k, v in pre.items() if k not in ("image_processor_type",
                                                               "processor_class")}  # fmt: skip
    image_kwargs.update(min_pixels=min_pixels, max_pixels=max_pixels)
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(**image_kwargs),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(min_pixels=min_pixels, max_pixels=max_pixels),
        chat_template=QWEN_CHAT_TEMPLATE,
    )
    processor.save_pretrained(out)
    return {"parameters": n_params, "vocab_size": config.text_config.vocab_size,
            "hidden_size": config.text_config.hidden_size}  # fmt: skip


def rehearse_sample(params: Any, work: Path, args: argparse.Namespace) -> dict:
    """One batched generation of the 7B-shaped VLM through the sample stage's backend."""
    from realign_pipeline.prompts import DEFAULT_SYSTEM_PROMPT
    from realign_pipeline.sampling.backend import GenerationSettings, render_prompt
    from realign_pipeline.sampling.transformers_backend import TransformersBackend

    cfg = params.sample
    info = build_paper_vlm(work / "vlm", params, cfg.min_pixels, cfg.max_pixels)
    settings = GenerationSettings(
        system_prompt=DEFAULT_SYSTEM_PROMPT if cfg.use_system_prompt else None,
        top_p=cfg.top_p, top_k=cfg.top_k, max_new_tokens=args.new_tokens, dtype=cfg.dtype,
        device="cpu", cpu_threads=0, min_pixels=cfg.min_pixels, max_pixels=cfg.max_pixels,
    )  # fmt: skip
    backend = TransformersBackend(str(work / "vlm"), settings)
    images = [Image.open(p).convert("RGB") for p in _images(work / "vlm_images", args.images, 448)]
    questions = [cfg.questions[i % len(cfg.questions)].text for i in range(len(images))]
    out = backend.generate(images, questions, cfg.seeds[0], cfg.temperatures[0])
    grid = backend.processor(text=["x"], images=images[:1], return_tensors="pt")["image_grid_thw"]
    image_tokens = int(grid.prod()) // 4
    # activations per token: one prompt (chat template, one image) with autograd on
    text = render_prompt(backend.processor, questions[0], settings.system_prompt)
    inputs = backend.processor(text=[text], images=images[:1], return_tensors="pt")
    MEASURED.update(mem.measure_vlm(backend.model, dict(inputs), params.grpo.temperature))
    # the preset's prompt: the same text tokens, `max_pixels` worth of image tokens
    merge = backend.model.config.vision_config.spatial_merge_size
    patch = backend.model.config.vision_config.patch_size
    MEASURED["prompt_tokens"] = (int(inputs["input_ids"].shape[1]) - image_tokens
                                 + cfg.max_pixels // (patch * merge) ** 2)  # fmt: skip
    MEASURED["config"] = _full_config()
    del backend
    return {
        **info,
        "gpu_memory": mem.sample_memory(
            MEASURED, params, MEASURED["config"], MEASURED["prompt_tokens"]
        ),  # fmt: skip
        "generated": len(out),
        "image_tokens_per_448px_image": image_tokens,
        "cut": f"1/28 decoder layers, 1/32 vision blocks, {args.new_tokens}/{cfg.max_new_tokens} "
        "new tokens, offline BPE tokenizer",
    }


def _mem_available_gb() -> float:
    for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024**2
    return 0.0


def _grpo_step(params: Any, work: Path, args: argparse.Namespace) -> dict:
    """One GRPO step of the 7B-shaped VLM built by `rehearse_sample`, through `run_grpo`."""
    import hashlib

    import pandas as pd

    from realign_pipeline.grpo import run_grpo

    root = work / "grpo_data"
    manifests = []
    for split, start in (("train", 0), ("val", 2)):
        rows = []
        for i, path in enumerate(_images(root / split, 4, 448)[start : start + 2]):
            rows.append({
                "image_id": hashlib.sha256(path.read_bytes()).hexdigest(),
                "path": str(path.relative_to(root)), "label": i % 2,
                "generator": "gen" if i % 2 else "real", "category": "", "dataset": "rehearsal",
                "split": split, "width": 448, "height": 448, "format": "PNG",
            })  # fmt: skip
        df = pd.DataFrame(rows).astype({"label": "int8", "width": "int32", "height": "int32"})
        manifests.append(work / f"grpo_{split}.parquet")
        df.to_parquet(manifests[-1], index=False)
    cfg = params.grpo
    cut = cfg.model_copy(
        update={"use_vllm": False, "bf16": False, "num_generations": 2,
                "per_device_train_batch_size": 2, "gradient_accumulation_steps": 1,
                "max_steps": 1, "max_completion_length": args.new_tokens, "logging_steps": 1,
                "cold_start": cfg.cold_start.model_copy(update={"enabled": False}),
                "eval": cfg.eval.model_copy(update={"max_images": 2, "batch_size": 2,
                                                    "max_new_tokens": args.new_tokens,
                                                    "baseline": False})}
    )  # fmt: skip
    result = run_grpo(*manifests, root, work / "grpo_out", work / "grpo.json", work / "grpo_ckpt",
                      cut, seed=params.seed, model=str(work / "vlm"))  # fmt: skip
    return {
        "train_steps": result.metrics.get("train_steps"),
        "train_reward": result.metrics.get("train_reward"),
        "cut": f"1 step, 1 image x 2 generations (preset: {cfg.num_generations}; "
        f"{cfg.per_device_train_batch_size} per device x {cfg.gradient_accumulation_steps} "
        f"accumulation), {args.new_tokens}/{cfg.max_completion_length} completion tokens, "
        "1/28 layers, use_vllm off, no DeepSpeed, bf16 weights without autocast",
    }


def rehearse_grpo(params: Any, work: Path, args: argparse.Namespace) -> dict:
    """Build every config the grpo stage builds from the preset; one step if memory allows."""
    from realign_pipeline.grpo.trainer_config import create_grpo_args, create_peft_config
    from realign_pipeline.launch import accelerate_command

    cfg = params.grpo
    grpo_args = create_grpo_args(cfg, work / "grpo", seed=params.seed, report_to="none")
    create_peft_config(cfg)
    launch = accelerate_command(
        ["grpo", "--params", "presets/paper.yaml"],
        num_processes=cfg.launcher.num_processes,
        config_file=REPO_ROOT / cfg.launcher.config if cfg.launcher.config else None,
    )
    info = {
        "gpu_memory": mem.grpo_memory(
            MEASURED, params, MEASURED["config"], MEASURED["prompt_tokens"]
        ),
        "use_vllm": grpo_args.use_vllm,
        "vllm_max_model_length": grpo_args.vllm_max_model_length,
        "vllm_enable_sleep_mode": grpo_args.vllm_enable_sleep_mode,
        "launch": f"accelerate launch, {cfg.launcher.num_processes} ranks, {cfg.launcher.config}",
        "launch_args": len(launch),
    }
    free = _mem_available_gb()
    if free < args.grpo_min_free_gb:
        why = "policy + reference + gradients + AdamW of the full-vocabulary model"
        cut = f"no GRPO step: MemAvailable {free:.1f} GB < {args.grpo_min_free_gb} GB ({why})"
        return {**info, "status": "validated only", "cut": cut}
    return {**info, **_grpo_step(params, work, args)}


def rehearse_align(params: Any, work: Path, args: argparse.Namespace) -> dict:
    """One epoch (2 steps at batch 2) of the preset's align on random-init ViT-L-14-336."""
    import pandas as pd
    import torch

    from realign_pipeline.align.stage import run_align
    from realign_pipeline.detector.model import load_detector
    from realign_pipeline.detector.transform import create_model_transform
    from realign_pipeline.evaluate.preprocess import create_preprocess

    paths = _images(work / "align_data", 4, 336)
    root = work / "align_data"
    answers = ("real", "fake")
    rows = [
        {"sample_id": f"s{i}", "image_id": f"{i:064x}", "path": str(p.relative_to(root)),
         "label": i % 2, "generator": "gen", "outcome": "accepted",
         "text_full": f"<think>reasoning {i}</think><answer>{answers[i % 2]}</answer>"}
        for i, p in enumerate(paths)
    ]  # fmt: skip
    pairs = work / "pairs.parquet"
    pd.DataFrame(rows).to_parquet(pairs, index=False)
    cfg = params.align.model_copy(
        update={"pretrained": None, "batch_size": 2, "num_train_epochs": 1, "device": "cpu",
                "bf16": False, "num_workers": 0, "warmup_steps": 0, "text_batch_size": 4,
                "eval_batch_size": 2, "image_cache_mb": 64}
    )  # fmt: skip
    result = run_align(pairs, work / "align_data", work / "detector", cfg, seed=params.seed,
                       ckpt_dir=work / "align_ckpt", report_dir=work / "align_report",
                       metrics_path=None)  # fmt: skip
    detector = load_detector(work / "detector")
    spec = detector.spec
    ev = params.evaluate
    preprocess = create_preprocess(ev.preprocessing, image_size=spec.image_size, mean=spec.mean,
                                   std=spec.std, resize_scale=ev.resize_scale,
                                   model_transform=create_model_transform(spec))  # fmt: skip
    with torch.no_grad():
        p_fake = float(detector.predict_proba(preprocess(Image.open(paths[1]))[None])[0])
    return {
        "model": cfg.model_name,
        "finetune": cfg.finetune,
        "lora_targets": list(cfg.lora.target_modules),
        "exported": sorted(result.outputs),
        "p_fake": p_fake,
        "preprocessing": ev.preprocessing,
        "gpu_memory": mem.align_memory(params),
        "cut": "random init (not openai), batch 2 (preset 32), 1 epoch of 2 steps, fp32 on CPU",
    }


def _run(name: str, fn: Callable[..., dict], *args: Any) -> dict:
    before = _peak_mb()
    start = time.perf_counter()
    try:
        info = fn(*args)
        status = info.pop("status", "ran")
    except Exception as exc:  # noqa: BLE001 - report every stage, whatever fails
        traceback.print_exc()
        info, status = {"error": f"{type(exc).__name__}: {exc}"}, "failed"
    info.update(seconds=round(time.perf_counter() - start, 1),
                peak_rss_growth_mb=round(_peak_mb() - before))  # fmt: skip
    detail = info.get("error") or info.get("cut", "")
    gpu = info.get("gpu_memory")
    need = f"GPU {gpu['gpu_gb']:>5.1f} / {gpu['budget_gb']:.0f} GB" if gpu else "GPU     ? GB"
    print(f"{name:<7} {status:<15} {info['seconds']:>7.1f} s  {need}  {detail}", flush=True)
    return {"stage": name, "status": status, **info}


def main() -> None:
    """Rehearse every GPU stage of the preset; print one line each and the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default=str(REPO_ROOT / "presets" / "paper.yaml"))
    parser.add_argument("--images", type=int, default=2, help="images in the generation batch")
    parser.add_argument("--new-tokens", type=int, default=4)
    parser.add_argument("--grpo-min-free-gb", type=float, default=18.0,
                        help="run the GRPO step only with this much MemAvailable")  # fmt: skip
    args = parser.parse_args()
    from realign_pipeline.config import load_params

    params = load_params(args.preset)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        results.append(_run("sample", rehearse_sample, params, work, args))
        results.append(_run("grpo", rehearse_grpo, params, work, args))
        results.append(_run("align", rehearse_align, params, work, args))
    print(json.dumps(results, default=str))


if __name__ == "__main__":
    main()
