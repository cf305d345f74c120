"""TRL/PEFT configs built from params: every value comes from the grpo section."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from realign_pipeline.config.grpo import GRPOConfig
from realign_pipeline.errors import ConfigError
from realign_pipeline.grpo.callbacks import ProgressCallback, build_completion_table
from realign_pipeline.grpo.trainer_config import create_grpo_args, create_peft_config


def test_grpo_args_follow_params(grpo_cfg: GRPOConfig, tmp_path: Path) -> None:
    cfg = grpo_cfg.model_copy(update={"learning_rate": 1e-6, "beta": 0.04, "top_k": 0})
    args = create_grpo_args(cfg, tmp_path, seed=7, report_to="none")
    assert (args.learning_rate, args.beta, args.top_k, args.seed) == (1e-6, 0.04, 0, 7)
    assert args.num_generations == cfg.num_generations
    assert args.reward_weights == [cfg.reward_weights.detection, cfg.reward_weights.format]
    assert args.bf16 is False and args.gradient_checkpointing is False  # TRL defaults: True
    assert args.gradient_checkpointing is False  # the deprecated alias mirrors it
    assert args.output_dir == str(tmp_path)


def test_vllm_length_and_sleep_mode_reach_trl(grpo_cfg: GRPOConfig, tmp_path: Path) -> None:
    cfg = grpo_cfg.model_copy(
        update={"vllm_max_model_length": 2048, "vllm_enable_sleep_mode": True}
    )
    args = create_grpo_args(cfg, tmp_path, seed=0, report_to="none")
    assert (args.vllm_max_model_length, args.vllm_enable_sleep_mode) == (2048, True)
    unset = create_grpo_args(
        grpo_cfg.model_copy(update={"vllm_max_model_length": None}), tmp_path, seed=0,
        report_to="none",
    )  # fmt: skip
    assert unset.vllm_max_model_length is None  # vLLM then uses the model's full context


def test_batch_not_multiple_of_group_is_config_error(grpo_cfg: GRPOConfig, tmp_path: Path) -> None:
    cfg = grpo_cfg.model_copy(update={"per_device_train_batch_size": 3, "num_generations": 4})
    with pytest.raises(ConfigError, match="grpo params rejected"):
        create_grpo_args(cfg, tmp_path, seed=0, report_to="none")


def test_peft_config_only_when_enabled(grpo_cfg: GRPOConfig) -> None:
    assert create_peft_config(grpo_cfg.model_copy(update={"lora": grpo_cfg.lora})) is None
    lora = grpo_cfg.lora.model_copy(update={"enabled": True, "r": 4, "alpha": 8})
    peft = create_peft_config(grpo_cfg.model_copy(update={"lora": lora}))
    assert (peft.r, peft.lora_alpha) == (4, 8)
    assert set(peft.target_modules) == set(grpo_cfg.lora.target_modules)


@pytest.mark.parametrize(
    ("update", "key"),
    [
        ({"min_pixels": 10_000, "max_pixels": 3136}, "min_pixels"),
        ({"max_steps": 0}, "max_steps"),
        ({"vllm_max_model_length": 0}, "vllm_max_model_length"),
        ({"loss_type": "ppo"}, "loss_type"),
        ({"num_generations": 1}, "num_generations"),
        ({"reward_weights": {"detection": 0, "format": 0}}, "reward_weights"),
    ],
)
def test_bad_grpo_params_fail_naming_the_key(grpo_cfg: GRPOConfig, update: dict, key: str) -> None:
    with pytest.raises(ValidationError, match=key):
        GRPOConfig.model_validate({**grpo_cfg.model_dump(), **update})


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
