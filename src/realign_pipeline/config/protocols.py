"""The paper's two training/evaluation protocols and how their presets are built.

ReAlign is trained twice in the paper (arXiv 2605.16080):
- `paper-aigcdetect`: trained on AIGCDetectBenchmark's ProGAN training set, tested on the
  AIGCDetectBenchmark test set (16 generators, ProGAN ... SDXL).
- `paper-holmes`: trained on the AIGI-Holmes training set, tested on the AIGI-Holmes test set and
  on UltraSynth-10k; every row of the ablation Tables 4 and 5 uses this protocol (UltraSynth-10k).

`presets/paper.yaml` is the shared GPU base (models, GRPO, sampling, review, alignment); each
protocol preset `presets/<protocol>.yaml` is that file with its own `preset`, `ingest` and
`evaluate` sections. `render_protocol_preset` rebuilds a protocol preset from the base, so an edit
of the base reaches both (`python scripts/sync_presets.py`; a test checks they are in sync).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "ABLATION_BENCHMARK",
    "ABLATION_PROTOCOL",
    "BASE_PRESET",
    "PROTOCOLS",
    "PROTOCOL_SECTIONS",
    "Protocol",
    "render_protocol_preset",
    "split_sections",
]


@dataclass(frozen=True)
class Protocol:
    """One of the paper's protocols: what it trains on and which benchmarks it reports."""

    name: str
    train: str
    benchmarks: tuple[str, ...]


PROTOCOLS: dict[str, Protocol] = {
    "paper-aigcdetect": Protocol(
        "paper-aigcdetect", "AIGCDetectBenchmark's ProGAN training set", ("aigcdetect",)
    ),
    "paper-holmes": Protocol(
        "paper-holmes", "the AIGI-Holmes training set", ("aigi_holmes", "ultrasynth")
    ),
}
# Tables 4 and 5 of the paper: AIGI-Holmes training, mAcc on UltraSynth-10k.
ABLATION_PROTOCOL = "paper-holmes"
ABLATION_BENCHMARK = "ultrasynth"

BASE_PRESET = "paper.yaml"
PROTOCOL_SECTIONS = ("preset", "ingest", "evaluate")  # what a protocol preset changes
_TOP_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*):", re.MULTILINE)


def split_sections(text: str) -> tuple[str, dict[str, str]]:
    """(header before the first top-level key, {key: its text up to the next key}) of a YAML
    params file, comments and layout kept."""
    starts = [(m.start(), m.group(1)) for m in _TOP_KEY.finditer(text)]
    if not starts:
        return text, {}
    sections = {}
    for (start, key), (end, _) in zip(starts, [*starts[1:], (len(text), "")], strict=True):
        sections[key] = text[start:end]
    return text[: starts[0][0]], sections


def render_protocol_preset(base: str, protocol: str) -> str:
    """The protocol preset text: `base` with the header and `PROTOCOL_SECTIONS` of `protocol`.

    Raises:
        ValueError: the protocol file lacks one of the protocol sections.
    """
    _, base_sections = split_sections(base)
    header, own = split_sections(protocol)
    missing = [key for key in PROTOCOL_SECTIONS if key not in own]
    if missing:
        raise ValueError(f"protocol preset lacks its own sections {missing}")
    body = "".join(own[k] if k in PROTOCOL_SECTIONS else v for k, v in base_sections.items())
    return header + body
