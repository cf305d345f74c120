"""The paper's ablation tables as data, experiment matching, and the comparison table.

Pure functions only: which configurations to run (Table 4: alignment text; Table 5: strategy x
fine-tuning), what each row does (`Variant.definition`), their `-S` overrides and the paper's mAcc
(docs/paper.md), how to recognise an experiment DVC already has (same params), and the table that
puts our mAcc per benchmark beside the paper's. Running `dvc exp run` is the CLI's job
(`realign ablate`).

A Table 4 row sets only `align.text_variant`: it trains with the preset's own strategy and
fine-tuning (the paper preset: joint + LoRA, as the paper; the tiny preset: joint + full), so its
`full` row is the pipeline's own configuration. A Table 5 row pins text_variant=full, strategy and
finetune. The paper measured both tables with the AIGI-Holmes protocol on UltraSynth-10k
(`config.protocols`): its numbers are shown only when the workspace runs that protocol, beside
that benchmark."""

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
from realign_pipeline.config.protocols import ABLATION_BENCHMARK, ABLATION_PROTOCOL, PROTOCOLS
from realign_pipeline.errors import ConfigError
from realign_pipeline.headline import eval_macc, merge

__all__ = [
    "TABLES",
    "ExperimentRecord",
    "Variant",
    "apply_overrides",
    "build_comparison",
    "comparison_header",
    "experiment_name",
    "find_experiment",
    "list_tables",
    "parse_experiments",
    "plan_ablation",
    "render_comparison",
    "shows_paper_numbers",
    "write_comparison",
]


@dataclass(frozen=True)
class Variant:
    """One row of an ablation table: what it does, its overrides and the paper's mAcc (percent,
    as the paper prints it; the comparison shows it as a fraction like ours)."""

    table: str
    name: str
    overrides: tuple[tuple[str, str], ...]
    paper_macc: float
    definition: str

    @property
    def tag(self) -> str:
        """The MLflow tag value `ablation=<table>/<variant>`."""
        return f"{self.table}/{self.name}"

    def set_args(self) -> list[str]:
        """`-S key=value` arguments for `dvc exp run`."""
        return [arg for key, value in self.overrides for arg in ("-S", f"{key}={value}")]


def _text(name: str, paper: float, definition: str) -> Variant:
    return Variant("text", name, (("align.text_variant", name),), paper, definition)


def _training(name: str, strategy: str, finetune: str, paper: float, definition: str) -> Variant:
    overrides = (
        ("align.text_variant", "full"),
        ("align.strategy", strategy),
        ("align.finetune", finetune),
    )
    return Variant("training", name, overrides, paper, definition)


_LABEL = '"This is a real image." / "This is a fake image."'
_CAPTION = (
    "one caption per image from the base VLM (caption stage: greedy, caption.prompt; only images "
    "whose reasoning survived review)"
)
_SEQUENTIAL = (
    "contrastive loss only for align.sequential_contrastive_epochs epochs, then bce_weight x BCE "
    "only for the remaining epochs, both phases under one warmup + decay schedule"
)
_BCE_ONLY = "bce_weight x BCE only, no text and no contrastive term"

# docs/paper.md: Tables 4 and 5, AIGI-Holmes training, mAcc (percent) on UltraSynth-10k.
TABLES: dict[str, tuple[Variant, ...]] = {
    "text": (
        _text("full", 97.09, f"text = {_LABEL} + the reviewed <think> reasoning"),
        _text("label_caption", 91.63, f"text = {_LABEL} + {_CAPTION}"),
        _text("reasoning_only", 96.87, "text = the reviewed <think> reasoning, no label sentence"),
        _text("caption_only", 88.32, f"text = {_CAPTION}, no label sentence"),
        _text(
            "label_only",
            91.33,
            f"text = {_LABEL} only: two distinct texts, so same-label images in a batch count as "
            "negatives of each other in CLIP's contrastive loss (kept as CLIP's)",
        ),
    ),
    "training": (
        _training(
            "joint_lora", "joint", "lora", 97.09,
            "contrastive + bce_weight x BCE every step; LoRA on the image encoder",
        ),
        _training(
            "joint_full", "joint", "full", 94.69,
            "contrastive + bce_weight x BCE every step; every image-encoder parameter trained",
        ),
        _training(
            "sequential_full", "sequential", "full", 79.07,
            f"{_SEQUENTIAL}; every image-encoder parameter trained",
        ),
        _training(
            "sequential_lora", "sequential", "lora", 84.08,
            f"{_SEQUENTIAL}; LoRA on the image encoder",
        ),
        _training(
            "bce_only_frozen", "bce_only", "frozen", 89.15,
            f"{_BCE_ONLY}; image encoder frozen, only the head trains",
        ),
        _training(
            "bce_only_lora", "bce_only", "lora", 93.68, f"{_BCE_ONLY}; LoRA on the image encoder"
        ),
    ),
}  # fmt: skip


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


def shows_paper_numbers(preset: str, benchmarks: Sequence[str]) -> bool:
    """Whether the paper's ablation numbers are comparable: same protocol, same benchmark."""
    return preset == ABLATION_PROTOCOL and ABLATION_BENCHMARK in benchmarks


def build_comparison(
    variants: Sequence[Variant],
    metrics: Mapping[str, Mapping[str, Any] | None],
    *,
    benchmarks: Sequence[str],
    condition: str,
    preset: str,
) -> pd.DataFrame:
    """One row per variant: table, variant, our mAcc (fraction) per benchmark, the paper's mAcc
    (only under the paper's ablation protocol, beside its benchmark), and the row's definition.

    Args:
        metrics: the eval metrics (metrics/eval.json merged with robustness.json) of each
            variant by tag, or None
            when its experiment failed (its cells stay empty).
        preset: the workspace's preset name (params `preset`).
    """
    paper = shows_paper_numbers(preset, benchmarks)
    rows = []
    for v in variants:
        row: dict[str, Any] = {"table": v.table, "variant": v.name}
        for bench in benchmarks:
            row[f"mAcc {bench}"] = eval_macc(metrics.get(v.tag), bench, condition)
            if paper and bench == ABLATION_BENCHMARK:
                row[f"paper mAcc {bench}"] = round(v.paper_macc / 100, 4)
        row["definition"] = v.definition
        rows.append(row)
    return pd.DataFrame(rows)


def comparison_header(preset: str, benchmarks: Sequence[str], condition: str) -> str:
    """What the comparison compares: protocol, condition, and where the paper's numbers apply."""
    protocol = PROTOCOLS.get(preset)
    trained = f"trained on {protocol.train}" if protocol else "not one of the paper's protocols"
    lines = [
        f"Preset `{preset}` ({trained}); mAcc (fraction, 0-1) on {', '.join(benchmarks)}, "
        f"condition `{condition}`.",
    ]
    if shows_paper_numbers(preset, benchmarks):
        lines.append(
            f"Paper numbers: Tables 4 and 5 of the paper, same protocol, `{ABLATION_BENCHMARK}`."
        )
    else:
        lines.append(
            f"Paper numbers not shown: the paper measured these tables with "
            f"presets/{ABLATION_PROTOCOL}.yaml on `{ABLATION_BENCHMARK}`, not with this preset."
        )
    return "\n".join(lines)


def render_comparison(table: pd.DataFrame, header: str = "") -> str:
    """The comparison in markdown: the header, each row's definition, then the table (fractions,
    two decimals, `n/a` when missing)."""
    lines = [header, ""] if header else []
    if "definition" in table.columns:
        lines += ["Rows:"]
        lines += [f"- `{r.table}/{r.variant}`: {r.definition}" for r in table.itertuples()]
        lines.append("")
        table = table.drop(columns="definition")
    lines.append("| " + " | ".join(table.columns) + " |")
    rule = "| " + " | ".join("---" if c in ("table", "variant") else "---:" for c in table.columns)
    lines.append(rule + " |")
    for _, row in table.iterrows():
        cells = [
            ("n/a" if pd.isna(v) else f"{v:.4f}") if isinstance(v, float) or v is None else str(v)
            for v in row.tolist()
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_comparison(
    table: pd.DataFrame, out_dir: Path, name: str, header: str = ""
) -> tuple[Path, Path]:
    """Write `<out_dir>/<name>.csv` and `<name>.md` atomically; return both paths."""
    csv_path = atomic_write_text(Path(out_dir) / f"{name}.csv", table.to_csv(index=False))
    md_path = atomic_write_text(Path(out_dir) / f"{name}.md", render_comparison(table, header))
    return csv_path, md_path
