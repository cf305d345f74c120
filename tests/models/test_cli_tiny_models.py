"""`realign tiny-models` in-process, and `python -m realign_pipeline.cli`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from realign_pipeline.cli import main

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_tiny_models_command_builds_a_loadable_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "vlm"
    code = main(["tiny-models", "--out", str(out), "-p", str(REPO_ROOT / "params.yaml")])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["outputs"]["model"] == str(out)
    assert (out / "model.safetensors").is_file()
    assert not list(tmp_path.glob(".vlm.*"))  # the temporary build folder is gone


def test_tiny_models_bad_override_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = str(REPO_ROOT / "params.yaml")
    code = main(
        [
            "tiny-models",
            "--out",
            str(tmp_path / "v"),
            "-p",
            params,
            "-s",
            "tiny_models.text_layers=0",
        ]
    )
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
