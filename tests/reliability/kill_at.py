"""Run the `realign` CLI and SIGKILL this very process at a chosen point (the fault matrix).

Usage: python kill_at.py SPEC -- realign-arguments...

SPEC is JSON (or empty for a plain run):
    target  "module:attr.path" of a function to wrap, e.g. "os:replace", "PIL.Image:open",
            "torch.optim:AdamW.step"; every stage writes through `os.replace` (atomic.py) and
            decodes through `PIL.Image.open` (images.py), so these name exact points
    arg     index of the positional argument whose file name is matched (default 0)
    match   fnmatch pattern for that file name (default "*": every call counts)
    nth     which matching call triggers (1-based)
    when    "before" or "after" that call
    pid     kill this process id instead of ourselves (e.g. an MLflow server), then go on
    pgid    kill this process group instead (a server with worker processes), then go on

The kill is a real SIGKILL delivered by the kernel: no handler, `finally` or atexit runs, exactly
as if an operator or the OOM killer had struck at that instant.
"""

from __future__ import annotations

import fnmatch
import importlib
import json
import os
import signal
import sys
from typing import Any


def _strike(spec: dict[str, Any]) -> None:
    if "pgid" in spec:
        os.killpg(int(spec["pgid"]), signal.SIGKILL)
    elif "pid" in spec:
        os.kill(int(spec["pid"]), signal.SIGKILL)
    else:
        os.kill(os.getpid(), signal.SIGKILL)


def _name(value: Any) -> str:
    if isinstance(value, (str, bytes, os.PathLike)):
        return os.path.basename(os.fsdecode(value))
    return os.path.basename(str(getattr(value, "name", "")))


def install(spec: dict[str, Any]) -> None:
    """Wrap the target function so that its `nth` matching call triggers the kill."""
    module_name, _, attr_path = spec["target"].partition(":")
    owner: Any = importlib.import_module(module_name)
    *parents, attr = attr_path.split(".")
    for part in parents:
        owner = getattr(owner, part)
    original = getattr(owner, attr)
    arg, pattern, nth = spec.get("arg", 0), spec.get("match", "*"), int(spec["nth"])
    when = spec.get("when", "before")
    seen = 0

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal seen
        hit = len(args) > arg and fnmatch.fnmatch(_name(args[arg]), pattern)
        seen += hit
        if hit and seen == nth and when == "before":
            _strike(spec)
        result = original(*args, **kwargs)
        if hit and seen == nth and when == "after":
            _strike(spec)
        return result

    setattr(owner, attr, wrapper)


def main(argv: list[str]) -> int:
    spec_text, sep, *cli_args = argv
    if sep != "--":
        raise SystemExit("usage: kill_at.py SPEC -- realign-arguments...")
    if spec_text:
        install(json.loads(spec_text))
    from realign_pipeline.cli import main as realign

    return realign(cli_args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
