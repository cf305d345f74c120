"""Workspace guards: the exclusive lock, preset switching and single-key params edits."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from flows.workspace import WorkspaceBusyError, apply_preset, set_param, workspace_lock

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    shutil.copyfile(REPO / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(REPO / "presets", tmp_path / "presets")
    return tmp_path


def test_lock_is_exclusive_and_released(ws: Path) -> None:
    with workspace_lock(ws, holder="run A"):
        with pytest.raises(WorkspaceBusyError, match="run A"):
            with workspace_lock(ws, holder="run B"):
                pass
    with workspace_lock(ws, holder="run C"):  # released after the first block
        pass


def test_apply_preset_switches_only_when_needed(ws: Path) -> None:
    assert apply_preset(ws, "tiny") is False  # already active: untouched
    assert apply_preset(ws, "paper") is True
    assert (ws / "params.yaml").read_bytes() == (REPO / "presets/paper.yaml").read_bytes()
    with pytest.raises(ValueError, match="git checkout params.yaml"):
        apply_preset(ws, "tiny")  # no presets/tiny.yaml: say how to restore it


def test_set_param_keeps_comments_and_other_values(ws: Path) -> None:
    before = (ws / "params.yaml").read_text()
    assert set_param(ws, "review.mode", "human") is True
    assert set_param(ws, "review.mode", "human") is False
    after = (ws / "params.yaml").read_text()
    assert yaml.safe_load(after)["review"]["mode"] == "human"
    assert before.splitlines()[0] == after.splitlines()[0]  # the header comment survives
    old, new = yaml.safe_load(before), yaml.safe_load(after)
    new["review"]["mode"] = old["review"]["mode"]
    assert old == new
