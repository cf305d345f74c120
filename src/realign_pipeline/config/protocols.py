"""The paper's two training/evaluation protocols and how their presets are built.

ReAlign is trained twice in the paper (arXiv 2605.16080):
- `paper-aigcdetect`: trained on AIGCDetectBenchmark's ProGAN training set, tested on the
  AIGCDetectBenchmark test set (ProGAN ... SDXL).
- `paper-holmes`: trained on the AIGI-Holmes training set, tested on the AIGI-Holmes test set and
  on UltraSynth-10k; every row of the ablation Tables 4 and 5 uses this protocol (UltraSynth-10k).

`presets/paper.yaml` is the shared GPU base (models, GRPO, sampling, review, alignment); each
protocol preset `presets/<protocol>.yaml` is that file with its own `preset` and data keys
(`ingest.train_sources`, `ingest.benchmarks`, `evaluate.benchmarks`). `render_protocol_preset`
rebuilds a protocol preset from the base, so an edit of anything else in the base reaches both
(`python scripts/sync_presets.py`; a test checks they are in sync).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "ABLATION_BENCHMARK",
    "ABLATION_PROTOCOL",
    "BASE_PRESET",
    "PROTOCOLS",
    "PROTOCOL_KEYS",
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
# What a protocol preset sets itself: section -> its own keys (None: the whole section).
PROTOCOL_KEYS: dict[str, tuple[str, ...] | None] = {
    "preset": None,
    "ingest": ("train_sources", "benchmarks"),
    "evaluate": ("benchmarks",),
}
PROTOCOL_SECTIONS = tuple(PROTOCOL_KEYS)
_TOP_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*):", re.MULTILINE)
_SUB_KEY = re.compile(r"^  ([A-Za-z_][A-Za-z0-9_]*):", re.MULTILINE)


def _split(text: str, pattern: re.Pattern[str]) -> tuple[str, dict[str, str]]:
    starts = [(m.start(), m.group(1)) for m in pattern.finditer(text)]
    if not starts:
        return text, {}
    blocks = {}
    for (start, key), (end, _) in zip(starts, [*starts[1:], (len(text), "")], strict=True):
        blocks[key] = text[start:end]
    return text[: starts[0][0]], blocks


def split_sections(text: str) -> tuple[str, dict[str, str]]:
    """(header before the first top-level key, {key: its text up to the next key}) of a YAML
    params file, comments and layout kept."""
    return _split(text, _TOP_KEY)


def _merge_section(base: str, own: str, keys: tuple[str, ...]) -> str:
    """`base`'s section with `own`'s first line (key + comment) and `own`'s `keys` blocks."""
    base_head, base_keys = _split(base, _SUB_KEY)
    own_head, own_keys = _split(own, _SUB_KEY)
    missing = [k for k in keys if k not in own_keys or k not in base_keys]
    if missing:
        raise ValueError(f"protocol preset: keys {missing} missing in its section or the base's")
    return own_head + "".join(own_keys[k] if k in keys else v for k, v in base_keys.items())


def render_protocol_preset(base: str, protocol: str) -> str:
    """The protocol preset text: `base` with the header of `protocol` and its `PROTOCOL_KEYS`.

    Raises:
        ValueError: the protocol file lacks one of its own sections or keys.
    """
    _, base_sections = split_sections(base)
    header, own = split_sections(protocol)
    missing = [key for key in PROTOCOL_SECTIONS if key not in own]
    if missing:
        raise ValueError(f"protocol preset lacks its own sections {missing}")
    body = []
    for key, text in base_sections.items():
        if key not in PROTOCOL_KEYS:
            body.append(text)
        elif PROTOCOL_KEYS[key] is None:
            body.append(own[key])
        else:
            body.append(_merge_section(text, own[key], PROTOCOL_KEYS[key]))
    return header + "".join(body)
