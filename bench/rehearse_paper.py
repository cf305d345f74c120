"""Rehearse the paper preset on CPU: the real architectures, random weights, one step per GPU stage.

Reads presets/paper.yaml and, for each GPU stage, builds what the preset names and runs it
through the stage's own code, printing one line per stage (ran / validated only / failed: error,
and what is cut) and a final JSON line:
- sample: a Qwen2.5-VL from Qwen2.5-VL-7B-Instruct's own config.json and preprocessor config
  (shipped in `realign_pipeline/model_configs/qwen2_5_vl_7b_instruct/`, no weights) with the
  preset's pixel bounds, dtype, system prompt and questions; cut to 1 decoder layer and 1 vision
  block, `--new-tokens` new tokens; this project's offline byte-level BPE tokenizer with Qwen's
  special tokens. One batched generation of `--images` images through `TransformersBackend`.
- grpo: TRL's GRPOConfig, the PEFT config and the accelerate/DeepSpeed launch command built from
  the preset; with at least `--grpo-min-free-gb` of MemAvailable (the step peaks at about 15.7 GB
  of RSS), one GRPO step through `run_grpo` on that model (use_vllm off, no DeepSpeed, 1 image x
  2 generations), else "validated only" and why.
- align: the preset's CLIP (ViT-L-14-336, random init) with its LoRA targets, head and loss, one
  epoch of 2 steps at batch 2 through `run_align`, the export, `load_detector`, one detection.
Each line also shows the GPU memory the stage needs at the preset's batch sizes against its
budget (80 GB for grpo and sample, 24 GB for align), scaled from activations measured on CPU
(`_rehearse_memory.py`).

    python bench/rehearse_paper.py [--preset presets/paper.yaml]   # minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _rehearse_memory as mem
import psutil
from _harness import REPO, parser, peak_rss_mb
from _synthetic import save_random_qwen, write_images, write_manifest
from PIL import Image

MEASURED: dict[str, Any] = {}  # sample's per-token activations, reused for grpo's estimate
QWEN_DIR = REPO / "src" / "realign_pipeline" / "model_configs" / "qwen2_5_vl_7b_instruct"


def _full_config() -> Any:
    """The uncut Qwen2.5-VL-7B config (as shipped)."""
    from transformers import Qwen2_5_VLConfig

    return Qwen2_5_VLConfig(**json.loads((QWEN_DIR / "config.json").read_text(encoding="utf-8")))


def build_paper_vlm(out: Path, params: Any, min_pixels: int, max_pixels: int) -> dict:
    """Save a Qwen2.5-VL-7B-shaped snapshot (cut depth, random bf16 weights) to `out`."""
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    from realign_pipeline.tiny_models.vlm import QWEN_CHAT_TEMPLATE, _build_tokenizer

    raw = json.loads((QWEN_DIR / "config.json").read_text(encoding="utf-8"))
    raw.update({"num_hidden_layers": 1, "max_window_layers": 1})  # the cut
    raw["vision_config"].update({"depth": 1, "fullatt_block_indexes": [0]})
    pre = json.loads((QWEN_DIR / "preprocessor_config.json").read_text(encoding="utf-8"))
    for key in ("image_processor_type", "processor_class"):
        pre.pop(key, None)
    pre.update(min_pixels=min_pixels, max_pixels=max_pixels)
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(**pre),
        tokenizer=_build_tokenizer(
            params.tiny_models.model_copy(update={"max_position_embeddings": 128000})
        ),
        video_processor=Qwen2VLVideoProcessor(min_pixels=min_pixels, max_pixels=max_pixels),
        chat_template=QWEN_CHAT_TEMPLATE,
    )
    config, n_params = save_random_qwen(raw, processor, out)
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
    paths = write_images(work / "vlm_images", args.images, 448)
    images = [Image.open(p).convert("RGB") for p in paths]
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


def _grpo_step(params: Any, work: Path, args: argparse.Namespace) -> dict:
    """One GRPO step of the 7B-shaped VLM built by `rehearse_sample`, through `run_grpo`."""
    from realign_pipeline.grpo import run_grpo

    root = work / "grpo_data"
    paths = write_images(root, 4, 448)  # two images per split, one of each label
    manifests = [
        write_manifest(root, [(str(p.relative_to(root)), i % 2, "gen" if i % 2 else "real")
                              for i, p in enumerate(paths[start : start + 2])],
                       split, work / f"grpo_{split}.parquet")
        for split, start in (("train", 0), ("val", 2))
    ]  # fmt: skip
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
        config_file=REPO / cfg.launcher.config if cfg.launcher.config else None,
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
    free = psutil.virtual_memory().available / 1024**3
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
    from realign_pipeline.evaluate.stage import detector_preprocess

    paths = write_images(work / "align_data", 4, 336)
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
    preprocess = detector_preprocess(detector.spec, params.evaluate)
    with torch.no_grad():
        p_fake = float(detector.predict_proba(preprocess(Image.open(paths[1]))[None])[0])
    return {
        "model": cfg.model_name,
        "finetune": cfg.finetune,
        "lora_targets": list(cfg.lora.target_modules),
        "exported": sorted(result.outputs),
        "p_fake": p_fake,
        "preprocessing": params.evaluate.preprocessing,
        "gpu_memory": mem.align_memory(params),
        "cut": "random init (not openai), batch 2 (preset 32), 1 epoch of 2 steps, fp32 on CPU",
    }


def _run(name: str, fn: Callable[..., dict], *args: Any) -> dict:
    before = peak_rss_mb()
    start = time.perf_counter()
    try:
        info = fn(*args)
        status = info.pop("status", "ran")
    except Exception as exc:  # noqa: BLE001 - report every stage, whatever fails
        traceback.print_exc()
        info, status = {"error": f"{type(exc).__name__}: {exc}"}, "failed"
    info.update(seconds=round(time.perf_counter() - start, 1),
                peak_rss_growth_mb=round(peak_rss_mb() - before))  # fmt: skip
    detail = info.get("error") or info.get("cut", "")
    gpu = info.get("gpu_memory")
    need = f"GPU {gpu['gpu_gb']:>5.1f} / {gpu['budget_gb']:.0f} GB" if gpu else "GPU     ? GB"
    print(f"{name:<7} {status:<15} {info['seconds']:>7.1f} s  {need}  {detail}", flush=True)
    return {"stage": name, "status": status, **info}


def main() -> None:
    """Rehearse every GPU stage of the preset; print one line each and the JSON."""
    cli = parser(__doc__)
    cli.add_argument("--preset", default=str(REPO / "presets" / "paper.yaml"))
    cli.add_argument("--images", type=int, default=2, help="images in the generation batch")
    cli.add_argument("--new-tokens", type=int, default=4)
    cli.add_argument("--grpo-min-free-gb", type=float, default=18.0,
                     help="run the GRPO step only with this much MemAvailable")  # fmt: skip
    args = cli.parse_args()
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
