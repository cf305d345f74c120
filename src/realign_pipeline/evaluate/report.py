"""The markdown report of an evaluation (`artifacts/eval/report.md`).

Per benchmark: a summary line (mAcc, mAP, best-threshold accuracy, ECE, image counts), mAcc on
the generators training saw and on the others (when the train manifest is known), the
per-generator table on clean images (AIGCDetectBenchmark's columns), and the robustness table
(mAcc / mAP per condition). Accuracies, AP and ECE are fractions (0-1, four decimals), the
unit of the metrics files, MLflow and Prefect. Undefined values (e.g. AP of a one-class generator)
print as `n/a`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

from realign_pipeline.evaluate.perturb import NONE

__all__ = ["render_report"]

_MARKDOWN_SYNTAX = re.compile(r"([\\`|\[\]])")


def _text(value: object) -> str:
    """A name taken from the data (benchmark, generator folder) as inert markdown text.

    The report is also shown rendered (Prefect's markdown artifact, MLflow): HTML is escaped,
    and so are table pipes, links and code spans, and the name is kept on one line.
    """
    flat = " ".join(str(value).split())
    return _MARKDOWN_SYNTAX.sub(r"\\\1", html.escape(flat, quote=False))


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _generator_table(generators: Mapping[str, Mapping]) -> list[str]:
    lines = [
        "| generator | real | fake | acc | real acc | fake acc | AP | best acc |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for gen, m in generators.items():
        lines.append(
            f"| {_text(gen)} | {m['n_real']} | {m['n_fake']} | {_num(m['acc'])} | "
            f"{_num(m['real_acc'])} | {_num(m['fake_acc'])} | {_num(m['ap'])} | "
            f"{_num(m['best_acc'])} |"
        )
    return lines


def _seen_line(clean: Mapping) -> list[str]:
    """mAcc on the generators training saw and on those it never saw (when known)."""
    if clean.get("n_seen") is None:
        return []
    n_unseen = clean["n_generators"] - clean["n_seen"]
    return [
        "",
        f"mAcc on the {clean['n_seen']} generator(s) training saw: "
        f"**{_num(clean['macc_seen'])}**; on the {n_unseen} it never saw: "
        f"**{_num(clean['macc_unseen'])}** (generalisation).",
    ]


def _robustness_table(conditions: Mapping[str, Mapping], order: list[str]) -> list[str]:
    lines = ["| condition | mAcc | mAP | ECE |", "| --- | ---: | ---: | ---: |"]
    for name in order:
        if name in conditions:
            m = conditions[name]
            lines.append(
                f"| {_text(name)} | {_num(m['macc'])} | {_num(m['map'])} | {_num(m['ece'])} |"
            )
    return lines


def render_report(
    metrics: Mapping[str, Mapping[str, Mapping]],
    failures: Mapping[str, int],
    *,
    condition_order: list[str],
    preprocessing: str,
    threshold: float,
    missing: list[str] | None = None,
) -> str:
    """Markdown text of the report (accuracies, AP, ECE as fractions)."""
    lines = [
        "# Evaluation report",
        "",
        f"Preprocessing `{preprocessing}`, threshold {threshold} on p_fake; accuracies, AP and ECE "
        "as fractions (0-1). "
        "mAcc / mAP are plain means over generators (AIGCDetectBenchmark); best acc uses the "
        "oracle threshold per generator (reported, not tuned); n/a = undefined (one class).",
    ]
    for bench, conditions in metrics.items():
        clean = conditions.get(NONE)
        if clean is None:
            continue
        lines += [
            "",
            f"## {_text(bench)}",
            "",
            f"mAcc **{_num(clean['macc'])}**, mAP {_num(clean['map'])}, best-threshold acc "
            f"{_num(clean['best_acc'])}, ECE {_num(clean['ece'])}; {clean['n_images']} images "
            f"scored, {failures.get(bench, 0)} failed to load.",
            *_seen_line(clean),
            "",
            *_generator_table(clean["generators"]),
            "",
            "Robustness (perturbation applied before preprocessing):",
            "",
            *_robustness_table(conditions, condition_order),
        ]
    if missing:  # optional benchmarks whose folder was absent at ingest (`required: false`)
        lines += [
            "",
            "## Missing benchmarks",
            "",
            "Not scored: their folder was missing at ingest "
            "(optional, `required: false`): " + ", ".join(f"`{_text(m)}`" for m in missing),
        ]
    return "\n".join(lines) + "\n"
