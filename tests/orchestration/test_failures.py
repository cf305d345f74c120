"""Failures name their cause (as the Prefect API returns them), lose nothing and trap no one."""

from __future__ import annotations

import pytest
import yaml

from tests.orchestration.conftest import make_toy_workspace

STAGES = ["ingest", "review_export", "review_import", "align"]


def _logs(flow_run_id) -> list:  # noqa: ANN001 - a UUID
    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)  # logs reach the API in batches
    with get_client(sync_client=True) as client:
        return client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
        )


def _stages_artifact(flow_run_id) -> str:  # noqa: ANN001 - a UUID
    """The stages table of this flow run (the session's Prefect test server is shared)."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["realign-stages"]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
            )
        )
    return str(max(found, key=lambda a: a.created).data)


def test_failed_stage_names_its_cause_and_keeps_the_previous_outputs(
    toy_workspace, prefect_harness
) -> None:
    from prefect import get_client

    from flows.pipeline import realign_pipeline

    realign_pipeline(stages=STAGES, repo=str(toy_workspace))
    output = toy_workspace / "artifacts" / "review_export" / "run_id.txt"
    metrics = toy_workspace / "metrics" / "review_export.json"
    before = {p: p.read_bytes() for p in (output, metrics, toy_workspace / "dvc.lock")}
    (toy_workspace / ".fail").mkdir()
    (toy_workspace / ".fail" / "review_export").write_text("3")

    state = realign_pipeline(
        stages=("review_export",), force=True, repo=str(toy_workspace), return_state=True
    )
    assert state.is_failed()
    flow_run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(flow_run_id)
    cause = "error: stand-in review_export failed on purpose (exit 3)"
    assert cause in flow_run.state.message
    logs = _logs(flow_run_id)
    errors = [log.message for log in logs if log.level >= 40]
    # the task fails at ERROR with the command's own error and DVC's cause; no traceback
    assert any(m == cause for m in errors), errors  # the command's line, at its level
    # the stage's task run fails with it: its own ERROR line (logs travel over HTTP; task runs
    # themselves reach the API through Prefect's event websocket, which this test does not need)
    task_errors = [log.message for log in logs if log.level >= 40 and log.task_run_id]
    assert any(cause in m and "exited with 3" in m for m in task_errors), task_errors
    assert not any("Traceback" in log.message for log in logs)
    # the stage's header once, and no terminal colour codes
    assert [log.message for log in logs].count("Running stage 'review_export':") == 1
    assert not any("\x1b" in log.message for log in logs)
    assert f"| review_export | FAILED: stage 'review_export' failed (exit 1): {cause}" in (
        _stages_artifact(flow_run_id)
    )
    # DVC deleted the outputs before running the command: they are back, byte for byte
    assert {p: p.read_bytes() for p in before} == before


def test_a_repo_that_cannot_work_stops_before_anything_is_created(
    tmp_path, prefect_harness, monkeypatch
) -> None:
    from flows.pipeline import realign_pipeline
    from flows.workspace import WorkspaceError

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    missing = tmp_path / "no-such-clone"
    with pytest.raises(WorkspaceError, match="not a checkout of realign-pipeline"):
        realign_pipeline(repo=str(missing))
    assert not missing.exists()

    ws = make_toy_workspace(tmp_path / "ws")
    (ws / "data.dvc").write_text("outs:\n- path: data\n")  # DVC-tracked data, never built here
    before = sorted(p.relative_to(ws) for p in ws.rglob("*"))
    state = realign_pipeline(repo=str(ws), return_state=True)
    assert state.is_failed() and "realign demo-data --out data" in state.message
    assert sorted(p.relative_to(ws) for p in ws.rglob("*")) == before
    logs = _logs(state.state_details.flow_run_id)
    assert any("realign demo-data" in log.message for log in logs if log.level >= 40)
    assert not any("Traceback" in log.message for log in logs)


def test_presets_switch_in_any_order_and_a_failed_run_switches_none(
    toy_workspace, prefect_harness, monkeypatch
) -> None:
    from flows.pipeline import realign_pipeline

    # the presets' own tracking URI is relative to the working directory: keep it in the toy
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{toy_workspace / 'mlflow.db'}")
    params = toy_workspace / "params.yaml"
    realign_pipeline(stages=("ingest",), repo=str(toy_workspace))
    before = {p: p.read_bytes() for p in (params, toy_workspace / "dvc.lock")}
    # the paper preset on a machine without its data: it fails, and switches nothing
    state = realign_pipeline(
        preset="paper", stages=("ingest",), repo=str(toy_workspace), return_state=True
    )
    assert state.is_failed()
    assert {p: p.read_bytes() for p in before} == before
    for preset in ("paper-holmes", "tiny", "paper", "paper-aigcdetect", "tiny"):
        rows = realign_pipeline(preset=preset, stages=("review_export",), repo=str(toy_workspace))
        assert yaml.safe_load(params.read_text())["preset"] == preset
        assert rows[0]["status"] in {"ran", "restored", "skipped"}


def test_a_transient_failure_is_retried_as_pipeline_retries_says(
    toy_workspace, prefect_harness
) -> None:
    """A stage command exiting 75 (a server it needs was unreachable) runs again."""
    from flows.pipeline import realign_pipeline

    (toy_workspace / ".fail").mkdir()
    (toy_workspace / ".fail" / "ingest").write_text("75")  # the stand-in exits 75 once
    rows = realign_pipeline(stages=("ingest",), repo=str(toy_workspace))
    assert rows[0]["status"] == "ran"
    assert not (toy_workspace / ".fail" / "ingest").exists()  # the first attempt did fail
