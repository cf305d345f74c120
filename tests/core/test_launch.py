"""realign_pipeline.launch: rank detection, the accelerate command, parallel workers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from realign_pipeline.errors import ConfigError
from realign_pipeline.launch import (
    accelerate_command,
    cli_command,
    is_launched_process,
    resolve_num_processes,
    run_command,
    run_parallel,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("env", "launched"),
    [
        ({}, False),  # a plain shell, dvc repro, a Prefect task
        ({"RANK": "0", "WORLD_SIZE": "2"}, True),  # torchrun / accelerate launch
        ({"LOCAL_RANK": "1"}, True),  # the DeepSpeed launcher
        ({"REALIGN_RUN_ID": "x"}, False),  # unrelated variables do not count
    ],
)
def test_is_launched_process(env: dict[str, str], launched: bool) -> None:
    assert is_launched_process(env) is launched


def test_accelerate_command_single_node_gets_a_free_port() -> None:
    cmd = accelerate_command(
        ["grpo", "--params", "p.yaml"],
        num_processes=8,
        config_file=REPO_ROOT / "deploy/accelerate/zero3.yaml",
    )
    assert cmd[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    assert cmd[cmd.index("--num_processes") + 1] == "8"
    assert cmd[cmd.index("--config_file") + 1].endswith("zero3.yaml")
    assert int(cmd[cmd.index("--main_process_port") + 1]) > 0
    assert cmd[-5:] == ["-m", "realign_pipeline.cli", "grpo", "--params", "p.yaml"]


def test_accelerate_command_multinode_keeps_the_config_port() -> None:
    cmd = accelerate_command(
        ["grpo"], num_processes=16, config_file=REPO_ROOT / "deploy/accelerate/multinode_zero3.yaml"
    )
    assert "--main_process_port" not in cmd  # every node must use the config's port


def test_accelerate_command_without_config_uses_accelerate_defaults() -> None:
    cmd = accelerate_command(["grpo"], num_processes=2, config_file=None)
    assert "--config_file" not in cmd and "--main_process_port" in cmd


def test_missing_accelerate_config_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"grpo\.launcher\.config.*deploy/accelerate"):
        accelerate_command(
            ["grpo"],
            num_processes=2,
            config_file=tmp_path / "nope.yaml",
            config_key="grpo.launcher.config",
        )


def test_run_parallel_returns_every_exit_code_and_passes_env() -> None:
    code = "import os, sys; sys.exit(int(os.environ['WORKER']))"
    commands = [[sys.executable, "-c", code]] * 3
    assert run_parallel(commands, [{"WORKER": "0"}, {"WORKER": "3"}, {"WORKER": "0"}]) == [0, 3, 0]
    assert run_command([sys.executable, "-c", "pass"]) == 0


def test_run_parallel_rejects_mismatched_envs() -> None:
    with pytest.raises(ValueError, match="2 commands but 1 environments"):
        run_parallel([["true"], ["true"]], [{}])


def test_cli_command_uses_this_interpreter() -> None:
    assert cli_command("sample", "--shard", "0/2") == [
        sys.executable, "-m", "realign_pipeline.cli", "sample", "--shard", "0/2",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("value", "visible", "expected"),
    [
        (3, "0", 3),  # an explicit count wins
        ("auto", "0,1,2,3", 4),  # one rank per visible GPU
        ("auto", "", 1),  # no GPU: one process
        ("auto", "-1", 1),  # CUDA_VISIBLE_DEVICES=-1 hides every GPU
    ],
)
def test_resolve_num_processes(
    monkeypatch: pytest.MonkeyPatch, value: int | str, visible: str, expected: int
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert resolve_num_processes(value) == expected
