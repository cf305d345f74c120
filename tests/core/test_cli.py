"""The CLI spine: one-line errors with exit code 2, usage errors, the progress hook."""

from __future__ import annotations

import json
from pathlib import Path

from realign_pipeline.cli import main
from realign_pipeline.cli.common import progress_hook


def test_missing_params_file_is_one_line_exit_2(tmp_path: Path, capsys) -> None:
    code = main(["ingest", "--params", str(tmp_path / "absent.yaml")])
    err = capsys.readouterr().err
    assert code == 2
    assert (
        err.strip()
        == f"error: params file not found: {tmp_path / 'absent.yaml'} (pass --params PATH)"
    )


def test_bad_override_names_the_key(capsys) -> None:
    code = main(["ingest", "--set", "ingest.nope=1"])
    assert code == 2
    assert "ingest.nope: unknown key" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error(capsys) -> None:
    assert main(["no-such-stage"]) == 2
    assert "No such command" in capsys.readouterr().err


def test_progress_hook_writes_json_only_when_asked(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("REALIGN_PROGRESS_FILE", raising=False)
    assert progress_hook() is None
    target = tmp_path / "progress.json"
    monkeypatch.setenv("REALIGN_PROGRESS_FILE", str(target))
    hook = progress_hook(min_interval_s=3600)
    hook(1, 10)
    hook(2, 10)  # throttled
    assert json.loads(target.read_text()) == {"done": 1, "total": 10}
    hook(10, 10)  # completion is always written
    assert json.loads(target.read_text()) == {"done": 10, "total": 10}
