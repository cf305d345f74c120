"""What must stop ingest, and what only looks wrong, in the images a run would train and score on.

Refusals (ingest stops with exit code 2 before writing anything; `realign data inspect` lists
them): a source with no files, a source where no file fits its layout, an empty training pool, a
training pool with one label only, a benchmark generator with no real or no fake image (its
accuracy and AP are undefined). Warnings (listed by `realign data inspect`, logged by ingest): a
training generator with one label only, a category named like a generator (a benchmark tree read
with a training layout), a generator named like an LSUN category (CNNDetection's training set read
with the `aigcdetect` layout), folder names that differ only in case or punctuation.

The checks run on the files as scanned (`realign data inspect`, before decoding anything) and on
the accepted rows again after decoding (a pool can empty when every file fails to decode).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Literal

from realign_pipeline.config.ingest import IngestConfig
from realign_pipeline.data.layouts import get_layout
from realign_pipeline.data.scan import SIDE_FILE, Entry
from realign_pipeline.errors import InputError

logger = logging.getLogger(__name__)

# CNNDetection's 20 LSUN categories (its README's `--classes`).
LSUN_CATEGORIES = frozenset(
    "airplane bicycle bird boat bottle bus car cat chair cow diningtable dog horse motorbike "
    "person pottedplant sheep sofa train tvmonitor".split()
)
# Generators of the benchmarks ingest reads (AIGCDetectBenchmark's eval_config.py, GenImage,
# AIGI-Holmes' TestSet), compared after `_fold`.
KNOWN_GENERATORS = frozenset(
    "progan stylegan stylegan2 biggan cyclegan stargan gaugan deepfake whichfaceisreal adm glide "
    "midjourney stablediffusionv14 stablediffusionv15 vqdm wukong dalle2 sdxl flux infinity janus "
    "llamagen var showo sd35l pixartxl".split()
)
_MISPLACED = ("unexpected_location", "unknown_label_folder")


@dataclass(frozen=True)
class Finding:
    """One refusal or warning about a source."""

    level: Literal["refusal", "warning"]
    source: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


# (source, generator) -> [real, fake] counts
Counts = dict[tuple[str, str], list[int]]


def _fold(name: str) -> str:
    """A folder name without case and punctuation: `Stable-Diffusion_v1.4` -> stablediffusionv14."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def count_labels(items: Iterable[tuple[str, str, int, str]]) -> tuple[Counts, dict[tuple, str]]:
    """Real/fake counts per (source, generator) of (source, generator, label, path) items, and the
    folder holding each (source, generator)'s files (their common path)."""
    counts: Counts = {}
    folders: dict[tuple, str] = {}
    for source, generator, label, path in items:
        key = (source, generator)
        counts.setdefault(key, [0, 0])[label] += 1
        parent = os.path.dirname(path)
        folders[key] = os.path.commonpath([folders.get(key, parent), parent]) or parent
    return counts, folders


def check_pools(cfg: IngestConfig, counts: Counts, folders: dict[tuple, str]) -> list[Finding]:
    """Refusals and warnings about label balance: the training pool as a whole, each benchmark
    generator, each training generator (`counts` from `count_labels` of usable images)."""
    findings = []
    train = list(cfg.train_sources)
    paths = ", ".join(s.path for s in train)
    totals = [0, 0]
    for (name, _), (real, fake) in counts.items():
        if name in {s.name for s in train}:
            totals[0] += real
            totals[1] += fake
    if totals == [0, 0]:
        findings.append(
            Finding("refusal", train[0].name, f"no training images: no usable image under {paths}")
        )
    elif 0 in totals:
        missing = "fake" if totals[1] == 0 else "real"
        findings.append(
            Finding(
                "refusal",
                train[0].name,
                f"the training pool has no {missing} image ({sum(totals)} images, all "
                f"{'real' if missing == 'fake' else 'fake'}) under {paths}: it cannot learn",
            )
        )
    roles = {s.name: "train" for s in train} | {s.name: "benchmark" for s in cfg.benchmarks}
    for (name, generator), (real, fake) in sorted(counts.items()):
        if (real and fake) or name not in roles:
            continue
        missing = "fake" if fake == 0 else "real"
        where = folders[(name, generator)]
        if roles[name] == "benchmark":
            message = (
                f"benchmark {name!r}: generator {generator!r} has no {missing} image "
                f"({real + fake} under {where}): its accuracy and AP are undefined"
            )
            findings.append(Finding("refusal", name, message))
        else:
            message = f"generator {generator!r} has only {'real' if fake == 0 else 'fake'} images"
            findings.append(Finding("warning", name, f"{message} (under {where})"))
    return findings


def _names_warnings(source: str, entries: list[Entry]) -> list[Finding]:
    """Suspicious generator and category names of one source."""
    findings = []
    generators = sorted({e.generator for e in entries if e.reject is None})
    categories = sorted({e.category for e in entries if e.reject is None and e.category})
    for category in categories:
        if _fold(category) in KNOWN_GENERATORS:
            findings.append(
                Finding(
                    "warning",
                    source,
                    f"category {category!r} looks like a generator: a benchmark tree read with "
                    "a training layout? (layout aigcdetect reads <generator>/[<category>/])",
                )
            )
    like_categories = [g for g in generators if g in LSUN_CATEGORIES]
    if like_categories:
        findings.append(
            Finding(
                "warning",
                source,
                f"generators {like_categories} look like LSUN categories: CNNDetection's "
                "training set takes layout categories",
            )
        )
    for kind, names in (("generator", generators), ("category", categories)):
        groups: dict[str, list[str]] = {}
        for name in names:
            groups.setdefault(_fold(name), []).append(name)
        for group in groups.values():
            if len(group) > 1:
                findings.append(
                    Finding("warning", source, f"{kind} folders {group} differ only in spelling")
                )
    return findings


def check_scan(cfg: IngestConfig, scanned: dict[str, list[Entry]]) -> list[Finding]:
    """Every refusal and warning about the sources as scanned (files not decoded yet)."""
    findings = []
    sources = {s.name: s for s in (*cfg.train_sources, *cfg.benchmarks)}
    for name, entries in scanned.items():
        source = sources[name]
        usable = [e for e in entries if e.reject is None]
        images = [e for e in entries if e.reject is None or e.reject[0] != SIDE_FILE]
        misplaced = [e for e in entries if e.reject and e.reject[0] in _MISPLACED]
        if not images:
            findings.append(
                Finding(
                    "refusal",
                    name,
                    f"source {name!r}: {source.path} holds no image file"
                    + (f" (only {len(entries)} side files)" if entries else "")
                    + "; point it at the images or remove it",
                )
            )
        elif not usable and misplaced:
            pattern = get_layout(source.layout).pattern
            findings.append(
                Finding(
                    "refusal",
                    name,
                    f"source {name!r}: no file under {source.path} fits layout {source.layout} "
                    f"({pattern}), e.g. {misplaced[0].path}: {misplaced[0].reject[1]}",
                )
            )
        findings += _names_warnings(name, entries)
    counts, folders = count_labels(
        (e.source, e.generator, e.label, e.path)
        for entries in scanned.values()
        for e in entries
        if e.reject is None and e.label is not None
    )
    return findings + check_pools(cfg, counts, folders)


def raise_refusals(findings: list[Finding]) -> None:
    """Log the warnings; raise the first refusal as one line (the others counted).

    Raises:
        InputError: a finding is a refusal.
    """
    for finding in findings:
        if finding.level == "warning":
            logger.warning("source %s: %s", finding.source, finding.message)
    refusals = [f.message for f in findings if f.level == "refusal"]
    if refusals:
        more = f" (and {len(refusals) - 1} more: `realign data inspect`)" if refusals[1:] else ""
        raise InputError(refusals[0] + more)
