"""An environment per clone: two clones set up at once each import only their own code.

`source scripts/env.sh` gives each clone its own `.venv` (uv, hard links from the shared cache),
so setting up or re-syncing one clone never changes what another imports. Needs the package
registry only when uv's cache is cold (after `scripts/test.sh` it is warm).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOW = "import realign_pipeline, sys; print(realign_pipeline.__file__); print(sys.prefix)"


def _env() -> dict[str, str]:
    # The clone's own environment only: no caller's venv or PYTHONPATH pointing at this checkout.
    return {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}


def _set_up(clone: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["bash", "-c", f"source scripts/env.sh && python -c '{SHOW}'"],
        cwd=clone, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.mark.slow
def test_two_clones_set_up_at_once_each_import_their_own_code(tmp_path: Path) -> None:
    clones = [tmp_path / "a", tmp_path / "b"]
    for clone in clones:
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    runs = [_set_up(clone) for clone in clones]  # both at once, on the same uv cache
    for clone, run in zip(clones, runs, strict=True):
        out, err = run.communicate(timeout=1800)
        assert run.returncode == 0, err[-3000:]
        module, prefix = out.split()
        assert Path(module) == clone / "src" / "realign_pipeline" / "__init__.py"
        assert Path(prefix) == clone / ".venv"
        assert not (clone / ".venv").is_symlink()
    # A change in one clone's code and a re-sync there leave the other clone's imports alone.
    (clones[1] / "src" / "realign_pipeline" / "clone_b_only.py").write_text("MARK = 1\n")
    assert _set_up(clones[1]).wait(timeout=600) == 0
    probe = "import importlib.util as u; print(u.find_spec('realign_pipeline.clone_b_only'))"
    out = subprocess.run(
        [clones[0] / ".venv" / "bin" / "python", "-c", probe],
        env=_env(), capture_output=True, text=True, check=True, cwd=tmp_path,
    ).stdout  # fmt: skip
    assert out.strip() == "None"
