"""`realign tiny-models` in-process, and `python -m realign_pipeline.cli`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from realign_pipeline.cli import main

REPO_ROOT = Path(__file__).resolve().parents[2]


def _run(out: Path, params: Path, *sets: str) -> int:
    return main(["tiny-models", "--out", str(out), "-p", str(params), *sets])


def test_tiny_models_command_builds_a_loadable_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # grpo.model and caption.model are relative to the workspace
    out = Path("artifacts/tiny_models")
    assert _run(out, REPO_ROOT / "params.yaml", "-s", "tracking.enabled=false") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["outputs"]["model"] == str(out / "vlm")
    assert (out / "vlm" / "model.safetensors").is_file()
    marker = json.loads((out / "tiny_models.json").read_text())
    assert marker == {"built": ["vlm"], "for": ["caption.model", "grpo.model"]}
    assert not list(out.parent.glob(".tiny_models.*"))  # the temporary build folder is gone


def test_paper_preset_writes_only_the_marker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hub models: the folder exists (grpo and caption depend on it) and holds no model, and its
    bytes do not depend on the tiny_models section."""
    monkeypatch.chdir(tmp_path)
    paper = REPO_ROOT / "presets" / "paper.yaml"
    assert _run(Path("a"), paper) == 0
    assert "model" not in json.loads(capsys.readouterr().out)["outputs"]
    assert _run(Path("b"), paper, "-s", "tiny_models.text_layers=3") == 0
    assert sorted(p.name for p in Path("a").iterdir()) == ["tiny_models.json"]
    assert Path("a/tiny_models.json").read_bytes() == Path("b/tiny_models.json").read_bytes()


def test_a_model_inside_the_folder_must_be_the_built_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code = _run(Path("t"), REPO_ROOT / "params.yaml", "-s", "grpo.model=t/other")
    assert code == 2
    assert "grpo.model=t/other" in capsys.readouterr().err


def test_tiny_models_bad_override_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _run(tmp_path / "v", REPO_ROOT / "params.yaml", "-s", "tiny_models.text_layers=0")
    assert code == 2
    assert "tiny_models.text_layers" in capsys.readouterr().err
    assert not (tmp_path / "v").exists()


def test_python_dash_m_entry_point() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "realign_pipeline.cli", "tiny-models", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "--out" in proc.stdout
