"""GRPO on the tiny preset (CPU): seconds per GRPO step, and reward variance early vs late.

Builds the tiny Qwen2.5-VL of the tiny preset and a seeded two-class image set, then runs the
grpo stage exactly as the tiny preset configures it (cold start, then GRPO with beta > 0, i.e.
with a reference model). Side by side, in the same process, it runs the same GRPO steps from the
same cold-start model with beta = 0 (no reference model), the cheapest GRPO step TRL does. Each
mode runs `--rounds` times, alternating, and its best median step time counts (TRL's
`step_time`, first step excluded as warm-up). Second figure: `frac_reward_zero_std` (share of
prompt groups whose completions all got the same reward, so no learning signal) over the second
half of the run vs the first half.

    python bench/grpo.py [--steps 12] [--rounds 2]
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import tempfile
from pathlib import Path

import torch
from _harness import REPO, figure, parser, report
from _synthetic import write_two_class

from realign_pipeline.config import load_params
from realign_pipeline.grpo import run_grpo
from realign_pipeline.tiny_models import build_tiny_vlm


def _run(work: Path, cfg, model: str, tag: str) -> dict:  # noqa: ANN001 - GRPOConfig
    """One grpo stage run; its metrics and policy source."""
    with contextlib.redirect_stdout(sys.stderr):  # the trainer prints its logs on stdout
        result = run_grpo(
            work / "manifests/train.parquet", work / "manifests/val.parquet", work / "data",
            work / f"out-{tag}", work / f"{tag}.json", work / "ckpt", cfg,
            seed=0, model=model, resume=False,
        )  # fmt: skip
    return {**result.metrics, "policy_source": result.extra["policy_source"]}


def main() -> None:
    """Run the preset and the beta-0 GRPO phases alternately; print the figures."""
    cli = parser(__doc__)
    cli.add_argument("--steps", type=int, default=None, help="GRPO steps (default: preset)")
    cli.add_argument("--rounds", type=int, default=2, help="timing rounds per mode (best)")
    args = cli.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    params = load_params(REPO / "params.yaml")
    cfg = params.grpo.model_copy(update={"max_steps": args.steps or params.grpo.max_steps})
    grpo_only = {"cold_start": cfg.cold_start.model_copy(update={"enabled": False}),
                 "eval": cfg.eval.model_copy(update={"baseline": False})}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-grpo-") as tmp:
        work = Path(tmp)
        write_two_class(work / "data", "train", cfg.max_train_images or 16, seed=0)
        write_two_class(work / "data", "val", max(2, cfg.eval.max_images // 2), seed=1)
        model = str(build_tiny_vlm(work / "vlm", params.tiny_models, seed=params.seed))
        ours = _run(work, cfg, model, "preset")
        start = ours["policy_source"]  # the cold-start model both GRPO phases start from
        times, base_times = [ours["train_step_time_s"]], []
        for round_ in range(args.rounds):  # alternate: machine load hits both modes alike
            no_ref = cfg.model_copy(update={"beta": 0.0, **grpo_only})
            base_times.append(_run(work, no_ref, start, f"b{round_}")["train_step_time_s"])
            if round_ < args.rounds - 1:  # the preset's GRPO phase, same start and reference
                same = cfg.model_copy(update=grpo_only)
                times.append(_run(work, same, start, f"o{round_}")["train_step_time_s"])
    print(json.dumps(ours, indent=1), file=sys.stderr)
    early = ours.get("frac_reward_zero_std_first_half")
    late = ours.get("frac_reward_zero_std_second_half")
    report([
        figure(f"GRPO step, tiny preset ({cfg.max_steps} steps, beta {cfg.beta}) vs beta 0 "
               "(no reference model)", min(times), min(base_times), "s/step"),
        figure("frac_reward_zero_std, tiny run: second half vs first half of the steps",
               late, early, "fraction of groups"),
    ])  # fmt: skip


if __name__ == "__main__":
    main()
