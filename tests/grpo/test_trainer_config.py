"""TRL/PEFT configs built from params: the grpo section's TRL keys reach trl.GRPOConfig as is."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from realign_pipeline.config import load_params
from realign_pipeline.config.grpo import GRPOConfig
from realign_pipeline.config.presets import list_presets
from realign_pipeline.config.trl_fields import trl_grpo_fields
from realign_pipeline.errors import ConfigError
from realign_pipeline.grpo.callbacks import ProgressCallback, build_completion_table
from realign_pipeline.grpo.trainer_config import create_grpo_args, create_peft_config

REPO_ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = Path(__file__).with_name("effective_trl_configs.json")


def test_grpo_args_follow_params(grpo_cfg: GRPOConfig, tmp_path: Path) -> None:
    cfg = grpo_cfg.model_copy(update={"learning_rate": 1e-6, "beta": 0.04, "top_k": 0})
    args = create_grpo_args(cfg, tmp_path, seed=7, report_to="none")
    assert (args.learning_rate, args.beta, args.top_k, args.seed) == (1e-6, 0.04, 0, 7)
    assert args.num_generations == cfg.num_generations
    assert args.reward_weights == [1.0, 1.0]
    assert args.bf16 is False and args.gradient_checkpointing is False  # TRL defaults: True
    assert args.output_dir == str(tmp_path)


def test_any_trl_field_passes_through(tmp_path: Path) -> None:
    # min_p is in no preset: a TRL field is usable without a change here
    params = load_params(
        REPO_ROOT / "params.yaml", ["grpo.min_p=0.1", "grpo.vllm_enable_sleep_mode=true"]
    )
    args = create_grpo_args(params.grpo, tmp_path, seed=0, report_to="none")
    assert (args.min_p, args.vllm_enable_sleep_mode) == (0.1, True)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        # a typo of a TRL field: named, with the closest field
        ("grpo.lerning_rate=1e-6", "unknown key 'lerning_rate'.*did you mean learning_rate"),
        # a key the stage sets itself
        ("grpo.output_dir=/tmp/x", "output_dir: set by the grpo stage itself"),
        # one of ours, still checked by pydantic
        ("grpo.min_pixels=10000", r"min_pixels \(10000\) > max_pixels"),
    ],
)
def test_bad_grpo_keys_fail_at_load(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_params(REPO_ROOT / "params.yaml", [override])


def test_trl_fields_are_read_from_the_source_exactly() -> None:
    import dataclasses

    import trl

    assert trl_grpo_fields() == {f.name for f in dataclasses.fields(trl.GRPOConfig)}


def test_trl_rejection_is_one_config_error_line(grpo_cfg: GRPOConfig, tmp_path: Path) -> None:
    cfg = grpo_cfg.model_copy(update={"per_device_train_batch_size": 3, "num_generations": 4})
    with pytest.raises(ConfigError, match="grpo params rejected by TRL's GRPOConfig") as info:
        create_grpo_args(cfg, tmp_path, seed=0, report_to="none")
    assert "\n" not in str(info.value)


def _effective(preset: str) -> dict:
    params = load_params(REPO_ROOT / "presets" / f"{preset}.yaml")
    args = create_grpo_args(params.grpo, Path("OUT"), seed=params.seed, report_to="none").to_dict()
    # what depends on the machine, not on the preset or TRL's defaults
    machine = {"use_cpu", "logging_dir", "local_rank"}
    return {k: v for k, v in sorted(args.items()) if k not in machine}


def test_effective_trl_configs_match_the_snapshot() -> None:
    """TRL's effective config per preset, defaults included: a TRL upgrade that changes a default
    (or a preset edit) shows here. After checking the diff, refresh the snapshot with
    `REALIGN_UPDATE_SNAPSHOT=1 python -m pytest tests/grpo/test_trainer_config.py -k snapshot`."""
    got = json.loads(json.dumps({p: _effective(p) for p in list_presets(REPO_ROOT)}, default=str))
    if os.environ.get("REALIGN_UPDATE_SNAPSHOT") == "1":
        SNAPSHOT.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    want = json.loads(SNAPSHOT.read_text())
    diff = {
        p: {
            k: (want.get(p, {}).get(k), v) for k, v in got[p].items() if want.get(p, {}).get(k) != v
        }
        for p in got
    }
    assert not any(diff.values()), f"effective GRPOConfig changed (snapshot, now): {diff}"


def test_peft_config_only_when_enabled(grpo_cfg: GRPOConfig) -> None:
    assert create_peft_config(grpo_cfg.model_copy(update={"lora": grpo_cfg.lora})) is None
    lora = grpo_cfg.lora.model_copy(update={"enabled": True, "r": 4, "alpha": 8})
    peft = create_peft_config(grpo_cfg.model_copy(update={"lora": lora}))
    assert (peft.r, peft.lora_alpha) == (4, 8)
    assert set(peft.target_modules) == set(grpo_cfg.lora.target_modules)


def test_completion_table_columns() -> None:
    records = {
        "completion": [[{"role": "assistant", "content": "<think>a</think><answer>real</answer>"}]],
        "rewards": {"format": [1.0], "detection": [0.0]},
        "extra": {"label": ["fake"], "answer": ["real"]},
        "advantages": [0.5],
    }
    table = build_completion_table(records, step=3)
    assert table == {
        "step": [3],
        "completion": ["<think>a</think><answer>real</answer>"],
        "reward_detection": [0.0],
        "reward_format": [1.0],
        "answer": ["real"],
        "label": ["fake"],
        "advantage": [0.5],
    }


@pytest.mark.parametrize(("world_zero", "expected"), [(True, [(3, 12)]), (False, [])])
def test_progress_callback_reports_steps_on_the_main_process(world_zero: bool, expected) -> None:
    from types import SimpleNamespace

    seen: list[tuple[int, int]] = []
    state = SimpleNamespace(global_step=3, max_steps=12, is_world_process_zero=world_zero)
    ProgressCallback(lambda done, total: seen.append((done, total))).on_step_end(None, state, None)
    assert seen == expected
