"""The learning check: did a tiny run learn, or only run?

`learning_failures` reads what the stages wrote (the headline metrics of evaluate, align and,
for a whole pipeline, grpo, plus align's loss.csv) and returns the reasons the run did not learn;
an empty list means it learned. The e2e test asserts it on the pipeline run, and the fault tests
(tests/align/test_learning_faults.py) show that it fails for each injected ML bug.

The bounds sit far above chance (0.5 on the balanced demo data) and below what the tiny preset
reaches (seen mAcc and val accuracy about 0.97-1.0; README "Honest numbers").
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

SEEN_MACC_MIN = 0.9  # mAcc on the benchmark generators training saw
VAL_ACC_MIN = 0.8  # align's validation accuracy after the last epoch
CONTRASTIVE_DROP = 0.95  # last epoch's mean contrastive loss < this x the first epoch's


def _mean_by_epoch(loss: pd.DataFrame, column: str) -> tuple[float, float]:
    by_epoch = loss.groupby("epoch")[column].mean()
    return float(by_epoch.iloc[0]), float(by_epoch.iloc[-1])


def learning_failures(
    eval_doc: dict,
    align_doc: dict,
    loss: pd.DataFrame,
    grpo_doc: dict | None = None,
    *,
    bench: str = "demo",
) -> list[str]:
    """Why a run did not learn (empty: it learned).

    Args:
        eval_doc: metrics/eval.json (`{bench: {macc_seen, ...}}`).
        align_doc: metrics/align.json (`val_acc`).
        loss: align's loss.csv (per step: epoch, contrastive, bce).
        grpo_doc: metrics/grpo.json (`{grpo: {train_reward_first_half,
            train_reward_second_half}}`), when the run trained GRPO.
        bench: the benchmark whose seen-generator mAcc counts.
    """
    failures = []
    seen = (eval_doc.get(bench) or {}).get("macc_seen")
    if seen is None or seen < SEEN_MACC_MIN:
        failures.append(f"{bench} mAcc on seen generators {seen} < {SEEN_MACC_MIN}")
    val = align_doc.get("val_acc")
    if val is None or val < VAL_ACC_MIN:
        failures.append(f"align val_acc {val} < {VAL_ACC_MIN}")
    first, last = _mean_by_epoch(loss, "contrastive")
    if not last < CONTRASTIVE_DROP * first:
        failures.append(f"contrastive loss {first:.4f} -> {last:.4f}: the tower did not align")
    if grpo_doc is not None:
        grpo = grpo_doc.get("grpo", {})
        start, end = grpo.get("train_reward_first_half"), grpo.get("train_reward_second_half")
        if start is None or end is None or not end > start:
            failures.append(f"GRPO reward {start} -> {end}: no increase")
    return failures


def read_run(root: Path, *, metrics: str = "metrics", report: str = "artifacts/align") -> dict:
    """The inputs of `learning_failures` from a pipeline workspace (grpo when it ran)."""
    grpo = root / metrics / "grpo.json"
    return {
        "eval_doc": json.loads((root / metrics / "eval.json").read_text()),
        "align_doc": json.loads((root / metrics / "align.json").read_text()),
        "loss": pd.read_csv(root / report / "loss.csv"),
        "grpo_doc": json.loads(grpo.read_text()) if grpo.is_file() else None,
    }
