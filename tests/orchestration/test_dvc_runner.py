"""The stage runner reads what happened from exit codes and DVC's exceptions, not its messages."""

from __future__ import annotations

import pytest

from tasks.dvc_runner import StageFailedError, TransientStageError, run_dvc_stage


def test_held_dvc_lock_is_transient(toy_workspace) -> None:
    from dvc.repo import Repo

    with Repo(str(toy_workspace)) as repo, repo.lock:  # another process holds the repo lock
        with pytest.raises(TransientStageError):
            run_dvc_stage(toy_workspace, "ingest")
    assert run_dvc_stage(toy_workspace, "ingest").status == "ran"
    assert run_dvc_stage(toy_workspace, "ingest").status == "skipped"


def test_a_failing_command_is_permanent(tmp_path, monkeypatch) -> None:
    from tests.orchestration.conftest import make_toy_workspace

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    ws = make_toy_workspace(tmp_path / "ws", failing="ingest")
    with pytest.raises(StageFailedError) as info:
        run_dvc_stage(ws, "ingest")
    assert not isinstance(info.value, TransientStageError)
    assert "stand-in ingest ran" in str(info.value)  # the tail of the stage's output
