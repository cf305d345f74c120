"""The paper's two training/evaluation protocols (arXiv 2605.16080).

ReAlign is trained twice in the paper:
- `paper-aigcdetect`: trained on AIGCDetectBenchmark's ProGAN training set, tested on the
  AIGCDetectBenchmark test set (ProGAN ... SDXL).
- `paper-holmes`: trained on the AIGI-Holmes training set, tested on the AIGI-Holmes test set and
  on UltraSynth-10k; every row of the ablation Tables 4 and 5 uses this protocol (UltraSynth-10k).

Each protocol is a preset overlay, `presets/<name>.yaml`, over presets/paper.yaml
(config/presets.py merges them).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ABLATION_BENCHMARK", "ABLATION_PROTOCOL", "PROTOCOLS", "Protocol"]


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
