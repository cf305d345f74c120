"""GRPO on the tiny preset (CPU): seconds per GRPO step, and reward variance early vs late.

Builds the tiny Qwen2.5-VL of the tiny preset and a seeded two-class image set (the demo data's
kind: noise-like "real" images, smooth periodic "fake" ones), then runs the grpo stage exactly as
the tiny preset configures it (cold start, then GRPO with beta > 0, i.e. with a reference model).
Side by side, in the same process, it runs the same GRPO steps from the same cold-start model
with beta = 0 (no reference model), the cheapest GRPO step TRL does. Each mode runs `--rounds`
times, alternating, and its best median step time counts (a shared machine's load hits both).

Reported (last stdout line, JSON list for bench/run.py):
- seconds per GRPO step (median of TRL's `step_time`, first step excluded as warm-up), tiny
  preset vs the same with beta = 0;
- `frac_reward_zero_std` (share of prompt groups whose completions all got the same reward, so
  no learning signal) over the second half of the run vs the first half.

Run: `python bench/grpo.py [--steps 12] [--rounds 2]`
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _images(root: Path, split: str, n_per_class: int, seed: int) -> Path:
    """Write seeded PNGs and their manifest; return the manifest path."""
    import numpy as np
    import pandas as pd
    from PIL import Image

    rng = np.random.default_rng(seed)
    rows = []
    for label in (0, 1):
        for i in range(n_per_class):
            if label:
                x = np.linspace(0, (2 + i % 3) * np.pi, 48)
                base = (np.sin(x)[None, :] + np.cos(x)[:, None]) * 60 + 128
                arr = np.stack([base, base.T, base[::-1]], axis=-1) + rng.normal(0, 3, (48, 48, 3))
            else:
                arr = rng.normal(128, 50, (48, 48, 3))
            rel = f"{split}/{label}/{i}.png"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(root / rel)
            digest = hashlib.sha256((root / rel).read_bytes()).hexdigest()
            rows.append([digest, rel, label, "bench" if label else "real", "", "bench", split])
    columns = ["image_id", "path", "label", "generator", "category", "dataset", "split"]
    df = pd.DataFrame(rows, columns=columns).assign(width=48, height=48, format="PNG")
    df = df.astype({"label": "int8", "width": "int32", "height": "int32"})
    path = root.parent / "manifests" / f"{split}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False)
    return path


def _run(work: Path, cfg, model: str, tag: str) -> tuple[dict, float]:  # noqa: ANN001
    """One grpo stage run; returns (metrics + policy source, wall seconds)."""
    from realign_pipeline.grpo import run_grpo

    start = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # the trainer prints its logs on stdout
        result = run_grpo(
            work / "manifests/train.parquet", work / "manifests/val.parquet", work / "data",
            work / f"out-{tag}", work / f"{tag}.json", work / "ckpt", cfg,
            seed=0, model=model, resume=False,
        )  # fmt: skip
    wall = time.perf_counter() - start
    return {**result.metrics, "policy_source": result.extra["policy_source"]}, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="GRPO steps (default: preset)")
    parser.add_argument("--rounds", type=int, default=2, help="timing rounds per mode (best)")
    args = parser.parse_args()
    import torch

    from realign_pipeline.config import load_params
    from realign_pipeline.tiny_models import build_tiny_vlm

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    params = load_params(REPO_ROOT / "params.yaml")
    cfg = params.grpo
    if args.steps:
        cfg = cfg.model_copy(update={"max_steps": args.steps})
    with tempfile.TemporaryDirectory(prefix="bench-grpo-") as tmp:
        work = Path(tmp)
        _images(work / "data", "train", cfg.max_train_images or 16, seed=0)
        _images(work / "data", "val", max(2, cfg.eval.max_images // 2), seed=1)
        model = str(build_tiny_vlm(work / "vlm", params.tiny_models, seed=params.seed))
        ours, wall = _run(work, cfg, model, "preset")
        grpo_only = {
            "cold_start": cfg.cold_start.model_copy(update={"enabled": False}),
            "eval": cfg.eval.model_copy(update={"baseline": False}),
        }
        no_ref = cfg.model_copy(update={"beta": 0.0, **grpo_only})
        same = cfg.model_copy(update=grpo_only)  # the preset's GRPO phase, same start and ref
        times, base_times = [ours["train_step_time_s"]], []
        for round_ in range(args.rounds):  # alternate: machine load hits both modes alike
            base_times.append(_run(work, no_ref, ours["policy_source"], f"b{round_}")[0])
            if round_ < args.rounds - 1:
                times.append(
                    _run(work, same, ours["policy_source"], f"o{round_}")[0]["train_step_time_s"]
                )
    step = min(times)
    base_step = min(m["train_step_time_s"] for m in base_times)
    early = ours.get("frac_reward_zero_std_first_half")
    late = ours.get("frac_reward_zero_std_second_half")
    print(json.dumps({"stage_wall_s": round(wall, 1), **ours}, indent=1), file=sys.stderr)
    figures = [
        {
            "figure": f"GRPO step, tiny preset ({cfg.max_steps} steps, beta {cfg.beta}) "
            "vs beta 0 (no reference model)",
            "ours": round(step, 3),
            "baseline": round(base_step, 3),
            "unit": "s/step",
            "ratio": round(step / base_step, 2),
            "target": "",
        },
        {
            "figure": "frac_reward_zero_std, tiny run: second half vs first half of the steps",
            "ours": late,
            "baseline": early,
            "unit": "fraction of groups",
            "ratio": round(late / early, 2) if early and late is not None else None,
            "target": "",
        },
    ]
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
