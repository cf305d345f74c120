"""The paper's ablation tables as data, experiment matching, and the comparison table.

Pure functions only: which configurations to run (Table 4: alignment text; Table 5: strategy x
fine-tuning), their `-S` overrides and the paper's mAcc (PAPER.md, UltraSynth-10k), how to
recognise an experiment DVC already has (same params), and the table that puts our mAcc per
benchmark beside the paper's. Running `dvc exp run` is the CLI's job (`realign ablate`).

Every variant pins all three align keys it varies (text_variant, strategy, finetune), so a row
is fully determined whatever the workspace's params say; Table 4's `full` and Table 5's
`joint_lora` are the same configuration and therefore the same DVC experiment.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from realign_pipeline.atomic import atomic_write_text
from realign_pipeline.config.evaluate import AblateConfig
from realign_pipeline.errors import ConfigError
from realign_pipeline.headline import eval_macc, merge

__all__ = [
    "TABLES",
    "ExperimentRecord",
    "Variant",
    "apply_overrides",
    "build_comparison",
    "experiment_name",
    "find_experiment",
    "list_tables",
    "parse_experiments",
    "plan_ablation",
    "render_comparison",
    "write_comparison",
]

PAPER_BENCHMARK = "UltraSynth-10k"


@dataclass(frozen=True)
class Variant:
    """One row of an ablation table: its overrides and the paper's mAcc (percent)."""

    table: str
    name: str
    overrides: tuple[tuple[str, str], ...]
    paper_macc: float

    @property
    def tag(self) -> str:
        """The MLflow tag value `ablation=<table>/<variant>`."""
        return f"{self.table}/{self.name}"

    def set_args(self) -> list[str]:
        """`-S key=value` arguments for `dvc exp run`."""
        return [arg for key, value in self.overrides for arg in ("-S", f"{key}={value}")]


def _text(name: str, paper: float) -> Variant:
    overrides = (
        ("align.text_variant", name),
        ("align.strategy", "joint"),
        ("align.finetune", "lora"),
    )
    return Variant("text", name, overrides, paper)


def _training(name: str, strategy: str, finetune: str, paper: float) -> Variant:
    overrides = (
        ("align.text_variant", "full"),
        ("align.strategy", strategy),
        ("align.finetune", finetune),
    )
    return Variant("training", name, overrides, paper)


# PAPER.md, ablations on UltraSynth-10k (mAcc, percent).
TABLES: dict[str, tuple[Variant, ...]] = {
    "text": (
        _text("full", 97.09),
        _text("label_caption", 91.63),
        _text("reasoning_only", 96.87),
        _text("caption_only", 88.32),
        _text("label_only", 91.33),
    ),
    "training": (
        _training("joint_lora", "joint", "lora", 97.09),
        _training("joint_full", "joint", "full", 94.69),
        _training("sequential_full", "sequential", "full", 79.07),
        _training("sequential_lora", "sequential", "lora", 84.08),
        _training("bce_only_frozen", "bce_only", "frozen", 89.15),
        _training("bce_only_lora", "bce_only", "lora", 93.68),
    ),
}


def list_tables() -> list[str]:
    """Accepted table names of `realign ablate` (`all` runs every table)."""
    return [*TABLES, "all"]


def plan_ablation(table: str, cfg: AblateConfig) -> list[Variant]:
    """The variants to run for `table` (text | training | all), filtered by params order.

    Raises:
        ConfigError: unknown table name.
    """
    if table not in list_tables():
        raise ConfigError(f"unknown ablation table {table!r}; allowed: {list_tables()}")
    chosen = {"text": cfg.text_variants, "training": cfg.training_variants}
    tables = list(TABLES) if table == "all" else [table]
    return [v for t in tables for v in TABLES[t] if v.name in chosen[t]]


def apply_overrides(params: Mapping[str, Any], overrides: Iterable[tuple[str, str]]) -> dict:
    """A deep copy of `params` with dotted `key=value` overrides applied (as DVC's `-S` does).

    Raises:
        ConfigError: an override names a section that does not exist.
    """
    result = copy.deepcopy(dict(params))
    for key, value in overrides:
        *parents, leaf = key.split(".")
        node = result
        for part in parents:
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"ablation override {key}: section {part!r} not in params")
            node = node[part]
        node[leaf] = value
    return result


def experiment_name(variant: Variant, params: Mapping[str, Any]) -> str:
    """DVC experiment name: `<table>-<variant>-<params digest>` (unique per configuration)."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()
    return f"{variant.table}-{variant.name}-{digest[:8]}"


@dataclass(frozen=True)
class ExperimentRecord:
    """One experiment from `dvc exp show --json`: name, rev, params.yaml data, a metrics file."""

    name: str
    rev: str
    params: dict
    metrics: dict | None
    error: str | None


def _record(
    entry: Mapping[str, Any], params_file: str, metrics_files: Sequence[str]
) -> ExperimentRecord:
    """The experiment's params and its metrics files merged (None without the first one)."""
    data = entry.get("data") or {}
    params = ((data.get("params") or {}).get(params_file) or {}).get("data") or {}
    found = [((data.get("metrics") or {}).get(f) or {}).get("data") for f in metrics_files]
    metrics = merge(*found) if found and found[0] is not None else None
    error = entry.get("error")
    return ExperimentRecord(
        name=str(entry.get("name") or ""),
        rev=str(entry.get("rev") or ""),
        params=params,
        metrics=metrics,
        error=json.dumps(error) if error else None,
    )


def parse_experiments(
    exp_show: Sequence[Mapping[str, Any]],
    *,
    params_file: str,
    metrics_file: str | Sequence[str],
) -> tuple[dict, list[ExperimentRecord]]:
    """Workspace params and the experiments of `dvc exp show --json` (DVC 3 format).

    `metrics_file`: the eval metrics file, or several (eval.json, robustness.json) merged into
    one document per experiment.

    Returns:
        (params of the workspace, experiment records of every baseline shown).
    """
    files = (metrics_file,) if isinstance(metrics_file, str) else tuple(metrics_file)
    workspace: dict = {}
    records: list[ExperimentRecord] = []
    for baseline in exp_show:
        if baseline.get("rev") == "workspace":
            workspace = _record(baseline, params_file, files).params
        for group in baseline.get("experiments") or []:
            for rev in group.get("revs") or []:
                records.append(_record(rev, params_file, files))
    return workspace, records


def find_experiment(
    records: Sequence[ExperimentRecord], params: Mapping[str, Any]
) -> ExperimentRecord | None:
    """A finished experiment (no error, metrics present) whose params equal `params`."""
    for record in records:
        if record.error is None and record.metrics is not None and record.params == params:
            return record
    return None


def _macc(metrics: Mapping[str, Any] | None, bench: str, condition: str) -> float | None:
    value = eval_macc(metrics, bench, condition)
    return None if value is None else 100.0 * value


def build_comparison(
    variants: Sequence[Variant],
    metrics: Mapping[str, Mapping[str, Any] | None],
    *,
    benchmarks: Sequence[str],
    condition: str,
) -> pd.DataFrame:
    """One row per variant: table, variant, our mAcc (percent) per benchmark, the paper's mAcc.

    Args:
        metrics: the eval metrics (metrics/eval.json merged with robustness.json) of each
            variant by tag, or None
            when its experiment failed (its cells stay empty).
    """
    rows = []
    for v in variants:
        row: dict[str, Any] = {"table": v.table, "variant": v.name}
        for bench in benchmarks:
            row[f"mAcc {bench}"] = _macc(metrics.get(v.tag), bench, condition)
        row[f"paper mAcc ({PAPER_BENCHMARK})"] = v.paper_macc
        rows.append(row)
    return pd.DataFrame(rows)


def render_comparison(table: pd.DataFrame) -> str:
    """The comparison as a markdown table (percent, two decimals, `n/a` when missing)."""
    header = "| " + " | ".join(table.columns) + " |"
    rule = "| " + " | ".join("---" if c in ("table", "variant") else "---:" for c in table.columns)
    lines = [header, rule + " |"]
    for _, row in table.iterrows():
        cells = [
            ("n/a" if pd.isna(v) else f"{v:.2f}") if isinstance(v, float) or v is None else str(v)
            for v in row.tolist()
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_comparison(table: pd.DataFrame, out_dir: Path, name: str) -> tuple[Path, Path]:
    """Write `<out_dir>/<name>.csv` and `<name>.md` atomically; return both paths."""
    csv_path = atomic_write_text(Path(out_dir) / f"{name}.csv", table.to_csv(index=False))
    md_path = atomic_write_text(Path(out_dir) / f"{name}.md", render_comparison(table))
    return csv_path, md_path
