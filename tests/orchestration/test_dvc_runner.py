"""The stage runner reads what happened from exit codes and DVC's exceptions, not its messages;
a failed stage says why in its own words and leaves the previous outputs as they were."""

from __future__ import annotations

import pytest

from tasks.dvc_runner import StageFailedError, TransientStageError, failure_reason, run_dvc_stage


def test_held_dvc_lock_is_transient(toy_workspace) -> None:
    from dvc.repo import Repo

    with Repo(str(toy_workspace)) as repo, repo.lock:  # another process holds the repo lock
        with pytest.raises(TransientStageError):
            run_dvc_stage(toy_workspace, "ingest")
    assert run_dvc_stage(toy_workspace, "ingest").status == "ran"
    assert run_dvc_stage(toy_workspace, "ingest").status == "skipped"


def test_a_command_exiting_75_is_transient(toy_workspace) -> None:
    """DVC only puts the command's exit status into its message; the runner still sees 75."""
    (toy_workspace / ".fail").mkdir()
    (toy_workspace / ".fail" / "ingest").write_text("75")  # the stand-in exits 75 once
    with pytest.raises(TransientStageError, match="exited with 75"):
        run_dvc_stage(toy_workspace, "ingest")
    assert run_dvc_stage(toy_workspace, "ingest").status == "ran"  # the retry works


def test_a_failing_command_is_permanent_and_says_why(tmp_path, monkeypatch) -> None:
    from tests.orchestration.conftest import make_toy_workspace

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    ws = make_toy_workspace(tmp_path / "ws", failing="ingest")
    with pytest.raises(StageFailedError) as info:
        run_dvc_stage(ws, "ingest")
    assert not isinstance(info.value, TransientStageError)
    message = str(info.value)
    # the command's own error, then DVC's with its cause; no chatter, no traceback
    assert "error: stand-in ingest failed on purpose (exit 3)" in message
    assert "failed to reproduce 'ingest'" in message and "exited with 3" in message
    assert "stand-in ingest ran" not in message and "Traceback" not in message


def test_a_failed_stage_leaves_the_previous_outputs(toy_workspace, monkeypatch) -> None:
    run_dvc_stage(toy_workspace, "ingest")
    out = toy_workspace / "artifacts" / "ingest" / "run_id.txt"
    metrics = toy_workspace / "metrics" / "ingest.json"  # not cached by DVC (cache: false)
    out.write_text("the previous run's output")
    metrics.write_text('{"value": 42}')
    from dvc.repo import Repo

    monkeypatch.chdir(toy_workspace)  # DVC resolves targets from the working directory
    with Repo() as repo:
        repo.commit("ingest", force=True)  # recorded in dvc.lock and the cache
    lock = (toy_workspace / "dvc.lock").read_text()
    (toy_workspace / ".fail").mkdir()
    (toy_workspace / ".fail" / "ingest").write_text("3")
    with pytest.raises(StageFailedError):
        run_dvc_stage(toy_workspace, "ingest", force=True)
    assert out.read_text() == "the previous run's output"
    assert metrics.read_text() == '{"value": 42}'
    assert (toy_workspace / "dvc.lock").read_text() == lock


def test_failure_reason_keeps_the_lines_that_say_why() -> None:
    lines = [
        "Running stage 'ingest':",
        "> realign ingest --data data",
        "Traceback (most recent call last):",
        '  File "x.py", line 1, in <module>',
        "FileNotFoundError: [Errno 2] No such file or directory: '/ws/data'",
        "ERROR: failed to reproduce 'ingest': failed to run: realign ingest, exited with 1",
    ]
    reason = failure_reason(lines)
    assert reason.splitlines() == lines[-2:]
    assert failure_reason(["a", "", "b", "  frame"]) == "a\nb"  # no error line: the last lines
