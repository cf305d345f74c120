"""Headline metrics: the few numbers per stage that `metrics/<stage>.json` holds.

Each `<stage>_headline` function takes the stage's full result and returns the nested document
written to `metrics/<stage>.json` (evaluate writes two: eval.json and robustness.json). `flatten`
joins its keys with "." as `dvc metrics show` does; those flat names are the ones logged to MLflow
and shown in Prefect, so a number has one name everywhere (e.g. `demo.macc`,
`demo.jpeg_q75.macc`, `val_acc`).

Only numbers that a rerun of the same commit reproduces belong here: timings, throughput and
resume counters go to MLflow alone, so `dvc metrics diff` between two runs of one commit is empty.
The detail (per generator, per condition, per split) stays in each stage's output folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "align_headline",
    "caption_headline",
    "eval_headline",
    "eval_macc",
    "robustness_headline",
    "flatten",
    "grpo_headline",
    "ingest_headline",
    "merge",
    "review_headline",
    "sample_headline",
]

CLEAN = "none"  # the evaluation condition without perturbation (evaluate.perturb.NONE)
# per benchmark, clean images; macc_seen / macc_unseen: generators training saw / never saw
EVAL_KEYS = ("macc", "macc_seen", "macc_unseen", "map", "best_acc", "ece")
ROBUSTNESS_KEYS = ("macc",)  # per benchmark and perturbation


def flatten(document: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric leaves of `document` keyed by their dotted path (DVC's flattening)."""
    flat: dict[str, float] = {}
    for key, value in document.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            flat.update(flatten(value, name))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat


def _pick(source: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """`keys` of `source` that are present and not None, in `keys` order."""
    return {k: source[k] for k in keys if source.get(k) is not None}


def ingest_headline(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Images accepted, rejected and leaked, benchmark files with a byte-identical copy in the same
    benchmark (kept, as the reference counts them); train and val split sizes."""
    splits = summary.get("splits", {})
    return {
        **_pick(summary, ("accepted", "rejected", "leakage", "benchmark_duplicates")),
        **{split: splits[split] for split in ("train", "val") if split in splits},
    }


def grpo_headline(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The VLM's greedy accuracy and format rate on val after training (and before, when
    measured) and its mean training reward per half of the run (did it rise?), under `grpo`
    (`grpo.eval_accuracy`): beside the detector's numbers on a parent run they say whose
    they are."""
    keys = (
        "eval_accuracy",
        "eval_format_rate",
        "baseline_accuracy",
        "train_reward",
        "train_reward_first_half",
        "train_reward_second_half",
    )
    return {"grpo": _pick(metrics, keys)}


def sample_headline(metrics: Mapping[str, Any], counts: Mapping[str, int]) -> dict[str, Any]:
    """Reasoning samples: answer accuracy, format rate, rows kept and rejected."""
    return {
        **_pick(metrics, ("accuracy", "format_rate", "answer_rate")),
        **_pick(counts, ("generated", "rejected")),
    }


def caption_headline(metrics: Mapping[str, Any], counts: Mapping[str, int]) -> dict[str, Any]:
    """Captions: rows kept and rejected, share of empty captions, mean length in tokens."""
    return {
        **_pick(counts, ("generated", "rejected")),
        **_pick(metrics, ("empty_rate", "mean_n_tokens")),
    }


def review_headline(counts: Mapping[str, int], accept_rate: float) -> dict[str, Any]:
    """Review outcomes: pairs written, accept rate, items accepted / edited / rejected / open."""
    return {
        **_pick(counts, ("pairs",)),
        "accept_rate": accept_rate,
        **_pick(counts, ("accepted", "edited", "rejected", "unreviewed")),
    }


def align_headline(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Validation accuracy (all, real, fake) after the last epoch and the last epoch's loss."""
    return _pick(metrics, ("val_acc", "val_real_acc", "val_fake_acc", "train_total_last_epoch"))


# {benchmark: {condition: {macc, map, ..., generators}}} (evaluate.metrics.summarise_predictions)
Summary = Mapping[str, Mapping[str, Mapping[str, Any]]]


def eval_headline(summary: Summary) -> dict[str, Any]:
    """metrics/eval.json: `{benchmark: {macc, macc_seen, macc_unseen, map, best_acc, ece}}` on
    clean images.

    Undefined values (e.g. mAP when every generator has one class) are left out.
    """
    return {
        bench: _pick(conditions.get(CLEAN, {}), EVAL_KEYS) for bench, conditions in summary.items()
    }


def robustness_headline(summary: Summary) -> dict[str, Any]:
    """metrics/robustness.json: `{benchmark: {condition: {macc}}}` for every perturbation.

    A file of its own, so that `dvc metrics show metrics/eval.json` stays narrow; the flat names
    (`demo.jpeg_q75.macc`) sit beside eval.json's (`demo.macc`) in MLflow and Prefect.
    """
    document: dict[str, Any] = {}
    for bench, conditions in summary.items():
        entry = {}
        for condition, values in conditions.items():
            picked = _pick(values, ROBUSTNESS_KEYS) if condition != CLEAN else {}
            if picked:
                entry[condition] = picked
        document[bench] = entry
    return document


def eval_macc(document: Mapping[str, Any] | None, bench: str, condition: str) -> float | None:
    """mAcc of `bench` under `condition` (None: absent) from metrics/eval.json and, for a
    perturbation, metrics/robustness.json merged into one document (`merge`)."""
    entry = (document or {}).get(bench) or {}
    if condition != CLEAN:
        entry = entry.get(condition) or {}
    value = entry.get("macc")
    return None if value is None else float(value)


def merge(*documents: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Nested dicts merged key by key (later ones win); None when every document is None."""
    present = [d for d in documents if d is not None]
    if not present:
        return None
    merged: dict[str, Any] = {}
    for document in present:
        for key, value in document.items():
            old = merged.get(key)
            both = isinstance(old, Mapping) and isinstance(value, Mapping)
            merged[key] = merge(old, value) if both else value
    return merged
