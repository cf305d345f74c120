"""Training checkpoints: trainable weights, AdamW state, scheduler state and RNG state.

One folder (`<ckpt_dir>/last/`), replaced atomically at the end of every epoch:
    tensors.safetensors   `model.<name>` image tower, head and logit scale, `optim.<name>.<key>`
                          AdamW state, `rng.torch` (and `rng.cuda`) generator states
    state.json            epoch, global step, param groups, scheduler state, loss rows, val
                          history and the fingerprint of the run it belongs to

No pickle anywhere. The whole image tower is saved, not only its trainable part: PEFT's LoRA
on `nn.MultiheadAttention` merges and unmerges the adapter around every forward pass, so the
frozen attention weights pick up float rounding and a rebuilt tower would differ in the last bit.
The text tower is not saved: it is never run during training and is rebuilt identically from the
pretrained weights (or the seed, for random weights). A checkpoint whose fingerprint differs from
the current run (other params or data) is ignored, and training starts over.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from realign_pipeline.atomic import atomic_dir, atomic_path, atomic_write_json
from realign_pipeline.errors import InputError

logger = logging.getLogger(__name__)

LAST = "last"
TENSORS_FILE = "tensors.safetensors"
STATE_FILE = "state.json"


@dataclass
class TrainProgress:
    """What the loop has done so far (saved in state.json)."""

    epoch: int = 0  # epochs completed
    global_step: int = 0
    loss_rows: list[dict[str, float]] = field(default_factory=list)
    val_history: list[dict[str, float]] = field(default_factory=list)


def save_checkpoint(
    ckpt_dir: Path,
    model_state: dict[str, torch.Tensor],
    params: list[tuple[str, torch.nn.Parameter]],
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    progress: TrainProgress,
    fingerprint: str,
) -> Path:
    """Write `<ckpt_dir>/last/` atomically (see the module docstring).

    Args:
        ckpt_dir: checkpoint root.
        model_state: the model tensors to save (image tower, head, logit scale).
        params: named trainable parameters in the optimizer's order (names its state).
        optimizer, scheduler: saved with their state.
        progress: epoch, step, loss rows, validation history.
        fingerprint: identity of the run (params, data, weights).
    """
    from safetensors.torch import save_file

    tensors = {f"model.{n}": t.detach().cpu().contiguous().clone() for n, t in model_state.items()}
    opt = optimizer.state_dict()
    for idx, (name, _) in enumerate(params):
        for key, value in opt["state"].get(idx, {}).items():
            tensors[f"optim.{name}.{key}"] = torch.as_tensor(value).detach().cpu().clone()
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    state = {
        "fingerprint": fingerprint,
        "epoch": progress.epoch,
        "global_step": progress.global_step,
        "param_names": [n for n, _ in params],
        "param_groups": opt["param_groups"],
        "scheduler": scheduler.state_dict(),
        "loss_rows": progress.loss_rows,
        "val_history": progress.val_history,
    }
    out = ckpt_dir / LAST
    with atomic_dir(out) as tmp:
        with atomic_path(tmp / TENSORS_FILE) as path:
            save_file(tensors, str(path))
        atomic_write_json(tmp / STATE_FILE, state)
    logger.info("Checkpoint after epoch %d (step %d)", progress.epoch, progress.global_step)
    return out


def read_checkpoint_state(ckpt_dir: Path, fingerprint: str) -> dict[str, Any] | None:
    """state.json of the last checkpoint if it belongs to this run, else None."""
    path = ckpt_dir / LAST / STATE_FILE
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        logger.warning("Ignoring unreadable checkpoint %s (%s)", path, exc)
        return None
    if state.get("fingerprint") != fingerprint:
        logger.info("Checkpoint in %s is from other params or data; starting over", path.parent)
        return None
    return state


def load_checkpoint(
    ckpt_dir: Path,
    state: dict[str, Any],
    model: torch.nn.Module,
    params: list[tuple[str, torch.nn.Parameter]],
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
) -> TrainProgress:
    """Restore weights, optimizer, scheduler and RNG state in place; return the progress."""
    from safetensors.torch import load_file

    names = [n for n, _ in params]
    if state["param_names"] != names:
        raise InputError(
            f"checkpoint {ckpt_dir / LAST} has other trainable parameters than this model; "
            "delete the folder to start over"
        )
    tensors = load_file(str(ckpt_dir / LAST / TENSORS_FILE))
    weights = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    result = model.load_state_dict(weights, strict=False)
    if result.unexpected_keys or any(n not in weights for n in names):
        raise InputError(
            f"checkpoint {ckpt_dir / LAST} does not fit this model "
            f"(unexpected {result.unexpected_keys[:3]}); delete the folder to start over"
        )
    opt_state: dict[int, dict[str, torch.Tensor]] = {}
    for idx, name in enumerate(names):
        prefix = f"optim.{name}."
        entry = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        if entry:
            opt_state[idx] = entry
    optimizer.load_state_dict({"state": opt_state, "param_groups": state["param_groups"]})
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    logger.info("Resumed from %s at epoch %d", ckpt_dir / LAST, state["epoch"])
    return TrainProgress(
        epoch=state["epoch"],
        global_step=state["global_step"],
        loss_rows=state["loss_rows"],
        val_history=state["val_history"],
    )
