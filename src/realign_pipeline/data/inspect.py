"""`realign data inspect`: what ingest would see, in seconds, before any image is decoded.

Reads: the `ingest` params section and the folders it names under the data root (file names and
file types only: one walk, no image is opened). Writes nothing.

For every train source and benchmark: its layout, whether it is there, its generators with their
real and fake counts, its categories, the files ingest would reject before decoding (and why),
its side files; then the refusals that would stop ingest and the warnings (checks.py).

Run: `realign data inspect --params presets/paper-holmes.yaml --data-root /data [--json]`
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from realign_pipeline.config.ingest import IngestConfig, SourceConfig
from realign_pipeline.data.checks import Finding, check_scan
from realign_pipeline.data.layouts import get_layout
from realign_pipeline.data.scan import SIDE_FILE, Entry, scan_sources
from realign_pipeline.errors import MissingInputError
from realign_pipeline.manifest import LABEL_NAMES


@dataclass(frozen=True)
class SourceReport:
    """What ingest would see in one source."""

    name: str
    role: str  # train | benchmark
    layout: str
    path: str
    expected: str  # the layout's pattern below `path`
    status: str  # found | missing | unusable (an error stops the scan)
    files: int = 0  # every file seen, side files included
    side_files: int = 0
    rejected: dict[str, int] = field(default_factory=dict)  # before decoding, by reason
    generators: dict[str, dict[str, int]] = field(default_factory=dict)  # {gen: {real, fake}}
    categories: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DataReport:
    """Every source's report and the findings over all of them."""

    data_root: str
    sources: list[SourceReport]
    findings: list[Finding]

    @property
    def refusals(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "refusal"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "data_root": self.data_root,
            "sources": [asdict(s) for s in self.sources],
            "refusals": [f.to_dict() for f in self.refusals],
            "warnings": [f.to_dict() for f in self.findings if f.level == "warning"],
        }

    def render(self) -> str:
        """The report as plain text, one block per source."""
        lines = [f"data root: {self.data_root}"]
        for s in self.sources:
            lines += ["", f"{s.role} {s.name}: {s.path} (layout {s.layout}: {s.expected})"]
            if s.status != "found":
                lines.append(f"  {s.status}")
                continue
            rejected = ", ".join(f"{k} {v}" for k, v in sorted(s.rejected.items())) or "none"
            lines.append(
                f"  {s.files} files: {s.side_files} side files, rejected before decoding: "
                f"{rejected}"
            )
            width = max([len("generator"), *map(len, s.generators)])
            lines.append(f"  {'generator':<{width}}  {'real':>8}  {'fake':>8}")
            for gen, n in s.generators.items():
                lines.append(f"  {gen:<{width}}  {n['real']:>8}  {n['fake']:>8}")
            if s.categories:
                lines.append(f"  categories ({len(s.categories)}): {', '.join(s.categories)}")
        for level in ("refusal", "warning"):
            found = [f for f in self.findings if f.level == level]
            if found:
                lines += ["", f"{level}s:", *(f"  - {f.message}" for f in found)]
        return "\n".join(lines) + "\n"


def _source_report(source: SourceConfig, role: str, entries: list[Entry]) -> SourceReport:
    generators: dict[str, dict[str, int]] = {}
    for e in sorted(entries, key=lambda e: e.generator):
        if e.reject is None and e.label is not None:
            per = generators.setdefault(e.generator, {"real": 0, "fake": 0})
            per[LABEL_NAMES[e.label]] += 1
    reasons = Counter(e.reject[0] for e in entries if e.reject is not None)
    side = reasons.pop(SIDE_FILE, 0)
    return SourceReport(
        source.name,
        role,
        source.layout,
        source.path,
        get_layout(source.layout).pattern,
        "found",
        len(entries),
        side,
        dict(sorted(reasons.items())),
        generators,
        sorted({e.category for e in entries if e.reject is None and e.category}),
    )


def inspect_data(data_root: str | Path, cfg: IngestConfig) -> DataReport:
    """Scan every source of `cfg` under `data_root` as ingest would, decoding nothing.

    Raises:
        MissingInputError: the data root does not exist.
    """
    if not Path(data_root).is_dir():
        raise MissingInputError(f"data root not found: {str(data_root)!r} (pass --data-root)")
    root = Path(data_root).resolve()
    scanned, errors = scan_sources(root, cfg)
    reports, findings = [], []
    roles = [("train", s) for s in cfg.train_sources] + [("benchmark", s) for s in cfg.benchmarks]
    for role, source in roles:
        pattern = get_layout(source.layout).pattern
        head = (source.name, role, source.layout, source.path, pattern)
        exc = errors.get(source.name)
        if exc is None:
            reports.append(_source_report(source, role, scanned[source.name]))
            continue
        missing = isinstance(exc, MissingInputError)
        optional = missing and not source.required
        level = "warning" if optional else "refusal"
        note = " (optional: skipped)" if optional else ""
        findings.append(Finding(level, source.name, f"{exc}{note}"))
        reports.append(SourceReport(*head, "missing" if missing else "unusable"))
    findings += check_scan(cfg, scanned)
    return DataReport(str(root), reports, findings)
