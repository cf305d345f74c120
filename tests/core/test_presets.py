"""Presets as overlays: presets/paper.yaml is the base, the others extend it with what differs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from realign_pipeline.config import load_params
from realign_pipeline.config.presets import list_presets, read_preset, render_params
from realign_pipeline.config.protocols import ABLATION_BENCHMARK, ABLATION_PROTOCOL, PROTOCOLS
from realign_pipeline.errors import ConfigError, MissingInputError

REPO = Path(__file__).resolve().parents[2]
PRESETS = REPO / "presets"


def test_params_yaml_is_the_tiny_preset_rendered() -> None:
    # fails after an edit of a preset until `realign params render --preset tiny -o params.yaml`
    assert (REPO / "params.yaml").read_text() == render_params(REPO, "tiny")


@pytest.mark.parametrize("name", [n for n in list_presets(REPO) if n != "paper"])
def test_every_other_preset_is_a_small_overlay_of_the_base(name: str) -> None:
    text = (PRESETS / f"{name}.yaml").read_text()
    assert yaml.safe_load(text)["extends"] == "paper.yaml"
    assert len(text.splitlines()) <= (120 if name == "tiny" else 60)


@pytest.mark.parametrize("name", list(PROTOCOLS))
def test_protocol_preset_is_the_base_with_its_own_data_keys(name: str) -> None:
    base = read_preset(PRESETS / "paper.yaml")
    own = read_preset(PRESETS / f"{name}.yaml")
    for params in (base, own):  # everything else (grpo, align, ingest.num_workers...) is shared
        params.pop("preset")
        params["ingest"].pop("train_sources")
        params["ingest"].pop("benchmarks")
        params["evaluate"].pop("benchmarks")
    assert own == base
    params = load_params(PRESETS / f"{name}.yaml")
    assert params.preset == name
    assert tuple(params.evaluate.benchmarks) == PROTOCOLS[name].benchmarks
    assert [s.name for s in params.ingest.benchmarks] == list(PROTOCOLS[name].benchmarks)


def test_the_ablation_protocol_reports_the_ablation_benchmark() -> None:
    assert ABLATION_BENCHMARK in PROTOCOLS[ABLATION_PROTOCOL].benchmarks
    holmes = load_params(PRESETS / "paper-holmes.yaml")
    assert [s.path for s in holmes.ingest.train_sources] == ["AIGI-Holmes/dataset"]
    aigc = load_params(PRESETS / "paper-aigcdetect.yaml")
    assert [s.path for s in aigc.ingest.train_sources] == ["CNNDetection/train"]
    assert aigc.ingest.train_sources[0].categories is None  # 20-class ProGAN by default


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    shutil.copytree(PRESETS, tmp_path / "presets")
    return tmp_path


def test_an_edit_of_the_base_reaches_every_overlay_that_does_not_set_it(repo: Path) -> None:
    base = repo / "presets/paper.yaml"
    base.write_text(base.read_text().replace("  beta: 0.04", "  beta: 0.08", 1))
    for name in ("tiny", "paper-holmes"):
        assert yaml.safe_load(render_params(repo, name))["grpo"]["beta"] == 0.08
    # tiny sets its own learning rate: the base's does not reach it
    assert load_params(repo / "presets/tiny.yaml").grpo.learning_rate == 5.0e-4


def test_merge_replaces_lists_and_an_empty_mapping_clears(repo: Path) -> None:
    tiny = load_params(repo / "presets/tiny.yaml")
    paper = load_params(repo / "presets/paper.yaml")
    assert len(tiny.evaluate.perturbations) == 3 < len(paper.evaluate.perturbations)
    assert tiny.pipeline.stage_deployments == {} != paper.pipeline.stage_deployments


def test_rendering_keeps_both_files_comments() -> None:
    lines = render_params(REPO, "tiny").splitlines()
    # the overlay's comment on its own value; the base's comment on a value tiny does not set
    assert any("tiny random model: far above the paper's 1e-6" in line for line in lines)
    assert any(line.startswith("  beta: 0.04") for line in lines)
    assert any("Qwen's generation config says top_k=1" in line for line in lines)
    # a value tiny replaces loses the base's comment, which described the paper's value
    assert not any("ProGAN training set" in line for line in lines)


def test_render_applies_overrides_and_names_bad_ones() -> None:
    text = render_params(REPO, "paper-holmes", ["align.learning_rate=2.0e-4"])
    assert yaml.safe_load(text)["align"]["learning_rate"] == 2.0e-4
    with pytest.raises(ConfigError, match="align.bogus: unknown key; allowed keys here: .*bce"):
        render_params(REPO, "tiny", ["align.bogus=1"])
    with pytest.raises(ConfigError, match="unknown key 'algn'; allowed: ablate, align"):
        render_params(REPO, "tiny", ["algn.learning_rate=1"])
    with pytest.raises(ConfigError, match="unknown preset 'tinyy'; known presets: paper, .*tiny"):
        render_params(REPO, "tinyy")


def test_extends_errors_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("extends: b.yaml\nseed: 1\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ConfigError, match="`extends` cycle"):
        load_params(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("extends: missing.yaml\n")
    with pytest.raises(MissingInputError, match="missing.yaml"):
        load_params(tmp_path / "c.yaml")


def test_cli_renders_to_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from realign_pipeline.cli import main

    out = tmp_path / "params.yaml"
    argv = ["params", "render", "--preset", "paper", "--repo", str(REPO), "-o", str(out)]
    assert main([*argv, "--set", "seed=7"]) == 0
    assert load_params(out).seed == 7
    assert main(["params", "render", "--preset", "nope", "--repo", str(REPO)]) == 2
