"""Config loading: presets validate; bad keys, types, ranges and overrides fail naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from realign_pipeline.config import load_params, parse_override
from realign_pipeline.errors import ConfigError, MissingInputError

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "preset",
    [
        "params.yaml",
        "presets/tiny.yaml",
        "presets/paper.yaml",
        "presets/paper-aigcdetect.yaml",
        "presets/paper-holmes.yaml",
    ],
)
def test_presets_load(preset: str) -> None:
    params = load_params(REPO / preset)
    assert params.preset in {"tiny", "paper", "paper-aigcdetect", "paper-holmes"}
    assert params.tracking.experiment == "realign"


def _write(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load((REPO / "params.yaml").read_text())
    mutate(data)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        # unknown key inside a section: named, with the allowed keys
        (lambda d: d["tracking"].update(bogus=1), "tracking.bogus: unknown key; allowed keys"),
        # unknown top-level section
        (lambda d: d.update(trainer={}), "trainer: unknown key"),
        # wrong type
        (lambda d: d["tracking"].update(enabled="maybe"), "tracking.enabled"),
        # out of range
        (lambda d: d.update(seed=-3), "seed: Input should be greater than or equal to 0"),
        # missing required section
        (lambda d: d.pop("tracking"), "tracking: required key is missing"),
    ],
)
def test_bad_params_name_the_key(tmp_path: Path, mutate, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(")):
        load_params(_write(tmp_path, mutate))


def test_override_sets_nested_value_with_yaml_typing() -> None:
    params = load_params(REPO / "params.yaml", ["tracking.connect_timeout_s=2.5", "seed=7"])
    assert params.tracking.connect_timeout_s == 2.5
    assert params.seed == 7


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("tracking.nope=1", "tracking.nope: unknown key"),  # unknown leaf
        ("nosection.x=1", "unknown key 'nosection'"),  # unknown section
        ("seed", "expected KEY.SUB=VALUE"),  # no '='
        ("=3", "expected KEY.SUB=VALUE"),  # empty key
        ("tracking..uri=x", "expected KEY.SUB=VALUE"),  # empty path segment
        ("tracking.connect_timeout_s=-1", "greater than 0"),  # validated after override
    ],
)
def test_bad_overrides_fail_clearly(override: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_params(REPO / "params.yaml", [override])


def test_parse_override_parses_yaml_values() -> None:
    assert parse_override("a.b=[1, 2]") == (["a", "b"], [1, 2])
    assert parse_override("a=null") == (["a"], None)
    assert parse_override("a.b=text") == (["a", "b"], "text")
    assert parse_override("a=2e-4") == (["a"], 2e-4)  # YAML 1.2: a number, not a string


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(MissingInputError, match="params file not found"):
        load_params(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_params(listy)


def test_params_are_frozen() -> None:
    params = load_params(REPO / "params.yaml")
    with pytest.raises(Exception, match="frozen"):
        params.seed = 3  # type: ignore[misc]


def test_same_concept_same_name_across_sections() -> None:
    """The LoRA, learning-rate, epoch and checkpointing knobs use TRL/PEFT's names everywhere."""
    params = load_params(REPO / "params.yaml")
    for lora in (params.align.lora, params.grpo.lora):
        assert {"r", "alpha", "dropout", "target_modules"} <= set(type(lora).model_fields)
    knobs = {"gradient_checkpointing", "lr_scheduler_type", "logging_steps"}
    assert {"learning_rate", "num_train_epochs"} <= set(type(params.grpo.cold_start).model_fields)
    assert {"learning_rate", "num_train_epochs"} | knobs <= set(type(params.align).model_fields)
    assert {"learning_rate", "num_train_epochs"} | knobs <= set(params.grpo.trl_args)  # TRL's
