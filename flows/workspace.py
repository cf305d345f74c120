"""Workspace guards for flows: one pipeline run per workspace, and params switches.

DVC's own repo lock refuses a second concurrent `dvc repro`, but a flow runs many stages in a
row, and two interleaved flows could each see the other's half-built outputs. The flow therefore
holds an exclusive lock on the workspace for its whole run; a second run is refused at once with
a message naming the holder.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LOCK_NAME = ".dvc/tmp/realign-pipeline.lock"


class WorkspaceBusyError(RuntimeError):
    """Another pipeline run holds this workspace."""


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


def apply_preset(repo: Path, preset: str) -> bool:
    """Make `preset` the active params: True when params.yaml was replaced.

    Nothing changes when params.yaml already holds that preset (its `preset:` key). Otherwise
    `presets/<preset>.yaml` is copied over params.yaml (`git diff params.yaml` shows the switch;
    `git checkout params.yaml` restores the committed tiny preset).
    """
    import yaml

    target = repo / "params.yaml"
    current = (yaml.safe_load(target.read_text()) or {}).get("preset") if target.is_file() else None
    if current == preset:
        return False
    source = repo / "presets" / f"{preset}.yaml"
    if not source.is_file():
        known = sorted(p.stem for p in (repo / "presets").glob("*.yaml"))
        raise ValueError(
            f"params.yaml holds preset {current!r} and there is no presets/{preset}.yaml "
            f"(known: {', '.join(known)}); restore the tiny preset with `git checkout params.yaml`"
        )
    tmp = target.with_suffix(".yaml.tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)
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
