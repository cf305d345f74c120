"""The paper's protocol presets: generated from presets/paper.yaml, differing only in their data
sections, each evaluating the benchmarks its protocol reports."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from realign_pipeline.config import load_params
from realign_pipeline.config.protocols import (
    ABLATION_BENCHMARK,
    ABLATION_PROTOCOL,
    BASE_PRESET,
    PROTOCOL_KEYS,
    PROTOCOLS,
    render_protocol_preset,
)

PRESETS = Path(__file__).resolve().parents[2] / "presets"


@pytest.mark.parametrize("name", list(PROTOCOLS))
def test_protocol_preset_is_in_sync_with_the_base(name: str) -> None:
    # fails after an edit of presets/paper.yaml until `python scripts/sync_presets.py` runs
    text = (PRESETS / f"{name}.yaml").read_text()
    assert render_protocol_preset((PRESETS / BASE_PRESET).read_text(), text) == text


@pytest.mark.parametrize("name", list(PROTOCOLS))
def test_protocol_preset_equals_the_base_outside_its_data_sections(name: str) -> None:
    base = yaml.safe_load((PRESETS / BASE_PRESET).read_text())
    own = yaml.safe_load((PRESETS / f"{name}.yaml").read_text())
    assert set(own) == set(base)

    def outside_protocol_keys(params: dict) -> dict:
        kept = {k: v for k, v in params.items() if PROTOCOL_KEYS.get(k, ()) is not None}
        for section, keys in PROTOCOL_KEYS.items():
            for key in keys or ():
                kept[section] = {k: v for k, v in kept[section].items() if k != key}
        return kept

    # every other key (ingest.num_workers, evaluate.preprocessing, grpo, align, ...) is the base's
    assert outside_protocol_keys(own) == outside_protocol_keys(base)
    params = load_params(PRESETS / f"{name}.yaml")
    assert params.preset == name
    assert tuple(params.evaluate.benchmarks) == PROTOCOLS[name].benchmarks
    assert [s.name for s in params.ingest.benchmarks] == list(PROTOCOLS[name].benchmarks)


def test_the_ablation_protocol_reports_the_ablation_benchmark() -> None:
    assert ABLATION_BENCHMARK in PROTOCOLS[ABLATION_PROTOCOL].benchmarks
    holmes = load_params(PRESETS / "paper-holmes.yaml")
    assert [s.path for s in holmes.ingest.train_sources] == ["AIGI-Holmes/train"]
    aigc = load_params(PRESETS / "paper-aigcdetect.yaml")
    assert [s.path for s in aigc.ingest.train_sources] == ["AIGCDetectBenchmark/train"]
    assert aigc.ingest.train_sources[0].categories is None  # 20-class ProGAN by default


def test_an_edit_of_the_base_reaches_the_protocol_preset() -> None:
    base = (PRESETS / BASE_PRESET).read_text()
    edited = base.replace("  learning_rate: 1.0e-6", "  learning_rate: 2.0e-6", 1)
    assert edited != base
    holmes = (PRESETS / "paper-holmes.yaml").read_text()
    rendered = yaml.safe_load(render_protocol_preset(edited, holmes))
    assert rendered["grpo"]["learning_rate"] == 2.0e-6
    assert rendered["evaluate"]["benchmarks"] == ["aigi_holmes", "ultrasynth"]


def test_a_rename_in_a_shared_section_reaches_the_protocol_preset() -> None:
    # ingest and evaluate hold protocol keys and shared keys: only the protocol keys stay
    base = (PRESETS / BASE_PRESET).read_text().replace("  min_side: 32", "  min_side_px: 32", 1)
    rendered = render_protocol_preset(base, (PRESETS / "paper-holmes.yaml").read_text())
    ingest = yaml.safe_load(rendered)["ingest"]
    assert ingest["min_side_px"] == 32 and "min_side" not in ingest
    assert [s["name"] for s in ingest["benchmarks"]] == ["aigi_holmes", "ultrasynth"]


def test_a_protocol_preset_without_its_sections_is_refused() -> None:
    with pytest.raises(ValueError, match="lacks its own sections"):
        render_protocol_preset((PRESETS / BASE_PRESET).read_text(), "preset: x\n")
