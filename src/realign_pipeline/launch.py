"""Start a `realign` command on several processes: one code path for `dvc repro`, Prefect and pods.

Two ways to use every device of a machine, both re-executing `python -m realign_pipeline.cli`:

- `accelerate_command`: one training job over N ranks (`accelerate launch`, with the accelerate /
  DeepSpeed config file named in params). The stage's own command re-executes itself through it
  when it is not yet inside a launched process (`is_launched_process`), so whatever runs the
  command (a shell, `dvc repro`, a Prefect task, a Kubernetes job) gets the same launch.
- `run_parallel`: N independent workers (e.g. one sampler per GPU, each with its own
  environment such as `CUDA_VISIBLE_DEVICES`), waited for together.

Both inherit stdout/stderr, so the main rank's result JSON reaches the caller's stdout unchanged.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from realign_pipeline.errors import ConfigError

__all__ = [
    "RANK_ENV_VARS",
    "accelerate_command",
    "cli_command",
    "is_launched_process",
    "resolve_num_processes",
    "run_command",
    "run_parallel",
    "visible_gpus",
]

logger = logging.getLogger(__name__)

# Set by `accelerate launch`, torchrun and the DeepSpeed launcher in every process they start.
RANK_ENV_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE")
CLI_MODULE = "realign_pipeline.cli"


def is_launched_process(environ: Mapping[str, str] | None = None) -> bool:
    """True inside a process started by a distributed launcher (a rank variable is set)."""
    env = os.environ if environ is None else environ
    return any(name in env for name in RANK_ENV_VARS)


def visible_gpus() -> list[str]:
    """The CUDA devices this process may use, as `CUDA_VISIBLE_DEVICES` entries."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [d.strip() for d in listed.split(",") if d.strip() and d.strip() != "-1"]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def resolve_num_processes(value: int | str) -> int:
    """A `num_processes` param: an int as is; `auto` = one per visible GPU (1 without a GPU)."""
    if value == "auto":
        return max(len(visible_gpus()), 1)
    return int(value)


def cli_command(*args: str) -> list[str]:
    """`python -m realign_pipeline.cli ARGS` with this interpreter (so the same environment)."""
    return [sys.executable, "-m", CLI_MODULE, *args]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _read_accelerate_config(path: Path, key: str) -> dict:
    if not path.is_file():
        raise ConfigError(
            f"{key}: accelerate config {str(path)!r} not found (paths are relative to the "
            "repository root; the configs shipped are under deploy/accelerate/)"
        )
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{key}: {str(path)!r} is not an accelerate config (a YAML mapping)")
    return data


def accelerate_command(
    cli_args: Sequence[str],
    *,
    num_processes: int,
    config_file: str | Path | None,
    config_key: str = "launcher.config",
) -> list[str]:
    """The `accelerate launch` command running `realign CLI_ARGS` on `num_processes` ranks.

    On one machine the rendezvous port is a free one (two jobs on a node do not collide on
    29500); a multi-node config (`num_machines` > 1) keeps its own port, which every node
    must share.

    Args:
        cli_args: Arguments of `realign` (e.g. `["grpo", "--params", "presets/paper.yaml"]`).
        num_processes: Total ranks (overrides the config file's `num_processes`).
        config_file: accelerate config (DeepSpeed, DDP, CPU); None uses accelerate's defaults.
        config_key: Name of the param holding `config_file`, for error messages.

    Raises:
        ConfigError: the config file is missing or not a mapping.
    """
    cmd = [sys.executable, "-m", "accelerate.commands.launch"]
    num_machines = 1
    if config_file is not None:
        config = _read_accelerate_config(Path(config_file), config_key)
        num_machines = int(config.get("num_machines") or 1)
        cmd += ["--config_file", str(config_file)]
    cmd += ["--num_processes", str(num_processes)]
    if num_machines == 1:
        cmd += ["--main_process_port", str(_free_port())]
    return [*cmd, "-m", CLI_MODULE, *cli_args]


def run_command(cmd: Sequence[str], env: Mapping[str, str] | None = None) -> int:
    """Run `cmd` in the foreground (stdio inherited); return its exit code."""
    return run_parallel([cmd], [env] if env is not None else None)[0]


def run_parallel(
    commands: Sequence[Sequence[str]], envs: Sequence[Mapping[str, str] | None] | None = None
) -> list[int]:
    """Start every command at once, wait for all, and return their exit codes in order.

    Each command's environment is this process's plus its entry of `envs`. If this process is
    interrupted or terminated (Ctrl-C, a cancelled flow run, a pod being stopped), the children
    still running are terminated before the exception propagates, so no worker is orphaned.
    """
    extra = list(envs) if envs is not None else [None] * len(commands)
    if len(extra) != len(commands):
        raise ValueError(f"{len(commands)} commands but {len(extra)} environments")
    procs: list[subprocess.Popen] = []
    # Turn SIGTERM into an exception we can clean up on (only the main thread may set handlers).
    own_handler = threading.current_thread() is threading.main_thread() and signal.getsignal(
        signal.SIGTERM
    ) in (signal.SIG_DFL, None)
    if own_handler:
        signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        for cmd, env in zip(commands, extra, strict=True):
            logger.info("starting: %s", " ".join(cmd))
            procs.append(subprocess.Popen(list(cmd), env={**os.environ, **(env or {})}))
        return [proc.wait() for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if own_handler:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


class _Terminated(SystemExit):
    pass


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated(128 + signum)
