"""DVC plot data (CSV) and the same plots rendered to PNG.

Files under `<out>/plots/` (the lead declares them under `plots:` in dvc.yaml):
    accuracy.csv          one row per benchmark/generator on clean images: name, benchmark,
                          generator, acc, real_acc, fake_acc (bar chart: x=acc, y=name)
    roc/<benchmark>.csv   pooled ROC of clean images: fpr, tpr, threshold (x=fpr, y=tpr)
    robustness.csv        one row per benchmark/condition: name, benchmark, perturbation, kind,
                          strength, macc, map (x=macc, y=name)
    accuracy.png, roc.png, robustness.png   the same, drawn with matplotlib
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from realign_pipeline.atomic import atomic_path, atomic_write_text
from realign_pipeline.evaluate.metrics import compute_roc
from realign_pipeline.evaluate.perturb import NONE, Perturbation

__all__ = ["GENERATORS_FILE", "generator_table", "write_plots"]

GENERATORS_FILE = "generators.csv"
_GENERATOR_COLUMNS = [
    "n_real", "n_fake", "acc", "real_acc", "fake_acc", "ap", "best_acc", "best_threshold", "ece",
]  # fmt: skip


def generator_table(metrics: dict[str, dict[str, dict]]) -> pd.DataFrame:
    """Every per-generator number: one row per benchmark, condition and generator.

    Columns: name (`<benchmark>/<generator>`), benchmark, condition, generator, then n_real,
    n_fake, acc, real_acc, fake_acc, ap, best_acc, best_threshold, ece (empty when undefined).
    """
    rows = [
        {
            "name": f"{bench}/{gen}",
            "benchmark": bench,
            "condition": condition,
            "generator": gen,
            **{key: m.get(key) for key in _GENERATOR_COLUMNS},
        }
        for bench, conditions in metrics.items()
        for condition, values in conditions.items()
        for gen, m in values.get("generators", {}).items()
    ]
    columns = ["name", "benchmark", "condition", "generator", *_GENERATOR_COLUMNS]
    return pd.DataFrame(rows, columns=columns)


def _accuracy_table(metrics: dict[str, dict[str, dict]]) -> pd.DataFrame:
    table = generator_table(metrics)
    table = table[table["condition"] == NONE].reset_index(drop=True)
    return table[["name", "benchmark", "generator", "acc", "real_acc", "fake_acc"]]


def _robustness_table(
    metrics: dict[str, dict[str, dict]], perturbations: list[Perturbation]
) -> pd.DataFrame:
    rows = []
    for bench, conditions in metrics.items():
        for p in perturbations:
            if p.name in conditions:
                m = conditions[p.name]
                rows.append(
                    {
                        "name": f"{bench}/{p.name}",
                        "benchmark": bench,
                        "perturbation": p.name,
                        "kind": p.kind,
                        "strength": p.value,
                        "macc": m["macc"],
                        "map": m["map"],
                    }
                )
    columns = ["name", "benchmark", "perturbation", "kind", "strength", "macc", "map"]
    return pd.DataFrame(rows, columns=columns)


def _save_figure(fig: Figure, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")


def _draw_accuracy(table: pd.DataFrame, path: Path) -> None:
    fig = Figure(figsize=(7, 1.5 + 0.35 * max(1, len(table))))
    ax = fig.add_subplot()
    ax.barh(table["name"], table["acc"].fillna(0.0), color="tab:blue")
    ax.set_xlim(0, 1)
    ax.set_xlabel("accuracy (clean, threshold 0.5 by default)")
    ax.invert_yaxis()
    _save_figure(fig, path)


def _draw_roc(curves: dict[str, pd.DataFrame], path: Path) -> None:
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    for bench, curve in curves.items():
        ax.plot(curve["fpr"], curve["tpr"], label=bench)
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    if curves:
        ax.legend(loc="lower right")
    _save_figure(fig, path)


def _draw_robustness(table: pd.DataFrame, path: Path) -> None:
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    for bench, frame in table.groupby("benchmark", sort=True):
        ax.plot(frame["perturbation"], frame["macc"], marker="o", label=str(bench))
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("mAcc")
    ax.set_xlabel("condition")
    ax.tick_params(axis="x", labelrotation=30)
    if not table.empty:
        ax.legend()
    _save_figure(fig, path)


def write_plots(
    predictions: pd.DataFrame,
    metrics: dict[str, dict[str, dict]],
    perturbations: list[Perturbation],
    out_dir: Path,
) -> list[Path]:
    """Write the plot CSVs and PNGs under `out_dir/plots`; return the written paths."""
    plots = out_dir / "plots"
    accuracy = _accuracy_table(metrics)
    robustness = _robustness_table(metrics, perturbations)
    written = [
        atomic_write_text(plots / "accuracy.csv", accuracy.to_csv(index=False)),
        atomic_write_text(plots / "robustness.csv", robustness.to_csv(index=False)),
    ]
    curves: dict[str, pd.DataFrame] = {}
    clean = predictions[predictions["perturbation"] == NONE]
    for bench, frame in clean.groupby("benchmark", sort=True, observed=True):
        curve = compute_roc(frame["label"].to_numpy(), frame["p_fake"].to_numpy())
        if curve is not None:
            curves[str(bench)] = curve
            written.append(
                atomic_write_text(plots / "roc" / f"{bench}.csv", curve.to_csv(index=False))
            )
    _draw_accuracy(accuracy, plots / "accuracy.png")
    _draw_roc(curves, plots / "roc.png")
    _draw_robustness(robustness, plots / "robustness.png")
    written += [plots / "accuracy.png", plots / "roc.png", plots / "robustness.png"]
    return written
