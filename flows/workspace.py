"""Workspace guards for flows: one pipeline run per workspace, and params switches.

DVC's own repo lock refuses a second concurrent `dvc repro`, but a flow runs many stages in a
row, and two interleaved flows could each see the other's half-built outputs. The flow therefore
holds an exclusive lock on the workspace for its whole run; a second run is refused at once with
a message naming the holder. A `repo` that cannot work is refused before anything is created in
it, and a failed run puts params.yaml back as it found it.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from realign_pipeline.errors import RealignError

LOCK_NAME = ".dvc/tmp/realign-pipeline.lock"


class WorkspaceError(RealignError):
    """The flow's `repo` cannot be worked in as it is (not a checkout, no data); says the fix."""


class WorkspaceBusyError(RealignError):
    """Another pipeline run holds this workspace."""


_CHECKOUT = ("dvc.yaml", "params.yaml", "presets", ".dvc")


def check_workspace(repo: str) -> Path:
    """The resolved checkout `repo` names, or WorkspaceError before anything is created there:
    not a checkout of this project, or its DVC-tracked `data/` not built yet."""
    root = Path(repo).expanduser().resolve()
    missing = [name for name in _CHECKOUT if not (root / name).exists()]
    if missing:
        raise WorkspaceError(
            f"repo {repo!r} ({root}) is not a checkout of realign-pipeline (no "
            f"{', '.join(missing)}): set `repo` to the folder of a clone (the deployments run in "
            "REALIGN_REPO)"
        )
    if (root / "data.dvc").is_file() and not (root / "data").exists():
        raise WorkspaceError(
            f"{root / 'data'} is missing: build it first in that checkout with `realign demo-data "
            "--out data` (the demo data) or `dvc pull data.dvc` (from the DVC remote)"
        )
    return root


@contextmanager
def kept_params(repo: Path, keep: Callable[[BaseException], bool]) -> Iterator[None]:
    """params.yaml as it was before the block, put back when the block raises an exception
    that `keep` does not accept (a failed run switches no preset)."""
    path = repo / "params.yaml"
    before = path.read_bytes()
    try:
        yield
    except BaseException as exc:
        if not keep(exc) and path.read_bytes() != before:
            tmp = path.with_suffix(".yaml.tmp")
            tmp.write_bytes(before)
            os.replace(tmp, path)
        raise


@contextmanager
def workspace_lock(repo: Path, holder: str) -> Iterator[None]:
    """Hold the workspace lock for the duration of the block, or raise WorkspaceBusyError."""
    path = repo / LOCK_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 - held open for the lock's lifetime
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            who = handle.read().strip() or "unknown"
            raise WorkspaceBusyError(
                f"workspace {repo} is in use by another pipeline run ({who}); wait for it to "
                "finish or run in a separate clone"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"holder": holder, "pid": os.getpid(), "since": time.time()}))
        handle.flush()
        yield
    finally:
        handle.close()


def rendered_params(repo: Path, preset: str, overrides: Iterable[str] = ()) -> str | None:
    """The params.yaml text a run of `preset` (with `key.sub=value` overrides) needs, or None
    when the current params.yaml already is that.

    The current file serves when it holds that preset (its `preset:` key), was not rendered with
    overrides (its header) and there are none now, so local edits survive. Otherwise params.yaml
    is rendered from `presets/<preset>.yaml`, from any preset to any other, tiny included: a run
    without overrides after one with them gets the preset's own values back.
    """
    import yaml

    from realign_pipeline.config.presets import render_params

    target = repo / "params.yaml"
    current = target.read_text() if target.is_file() else ""
    overrides = list(overrides)
    rendered_with_overrides = " --set " in current.partition("\n")[0]
    same = (yaml.safe_load(current) or {}).get("preset") == preset
    if not overrides and same and not rendered_with_overrides:
        return None
    text = render_params(repo, preset, overrides)
    return None if text == current else text


def apply_preset(repo: Path, preset: str, overrides: Iterable[str] = ()) -> bool:
    """Make `preset` (with overrides) the active params (`rendered_params`): True when
    params.yaml changed (`git diff params.yaml` shows the switch)."""
    from realign_pipeline.atomic import atomic_write_text

    text = rendered_params(repo, preset, overrides)
    if text is None:
        return False
    atomic_write_text(repo / "params.yaml", text)
    return True


def set_param(repo: Path, key: str, value: Any) -> bool:
    """Set one dotted key in params.yaml, keeping comments and layout; True if it changed."""
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    path = repo / "params.yaml"
    data = yaml.load(path.read_text())
    node = data
    *parents, last = key.split(".")
    for part in parents:
        node = node[part]
    if node.get(last) == value:
        return False
    node[last] = value
    tmp = path.with_suffix(".yaml.tmp")
    with open(tmp, "w") as handle:
        yaml.dump(data, handle)
    os.replace(tmp, path)
    return True
