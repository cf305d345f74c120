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


def test_apply_preset_switches_in_any_order(ws: Path) -> None:
    assert apply_preset(ws, "tiny") is False  # already active: untouched
    assert apply_preset(ws, "paper") is True
    assert yaml.safe_load((ws / "params.yaml").read_text()) == yaml.safe_load(
        (REPO / "presets/paper.yaml").read_text()
    )
    assert apply_preset(ws, "tiny") is True  # back to tiny: params.yaml as committed
    assert (ws / "params.yaml").read_bytes() == (REPO / "params.yaml").read_bytes()
    assert apply_preset(ws, "tiny", ["seed=3"]) is True
    assert yaml.safe_load((ws / "params.yaml").read_text())["seed"] == 3
    with pytest.raises(ValueError, match="known presets: paper, paper-aigcdetect"):
        apply_preset(ws, "tinyy")


def test_the_form_offers_every_preset_file() -> None:
    from typing import get_args

    from flows.pipeline import Preset
    from realign_pipeline.config.presets import list_presets

    assert sorted(get_args(Preset)) == list_presets(REPO)


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
