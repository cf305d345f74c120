"""The realign-pipeline flow under a temporary Prefect server (prefect_test_harness)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import yaml

from tests.orchestration.conftest import make_toy_workspace

STAGES = ["ingest", "review_export", "review_import", "align"]


def _client(ws: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(f"sqlite:///{ws / 'mlflow.db'}")


def test_flow_runs_stages_in_order_then_skips_unchanged(toy_workspace, prefect_harness) -> None:
    from flows.pipeline import realign_pipeline

    rows = realign_pipeline(stages=STAGES, repo=str(toy_workspace))
    assert [r["stage"] for r in rows] == STAGES
    assert {r["status"] for r in rows} == {"ran"}
    assert all(r["dvc_stage_hash"] for r in rows)

    client = _client(toy_workspace)
    exp = client.get_experiment_by_name("realign")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.data.tags.get("realign.stage") == "pipeline"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    parent_id = parents[0].info.run_id
    # the parent: named `<preset> <short commit>`, with the params that define the run and the
    # headline metrics of align under the metrics file's names
    commit = parents[0].data.tags["mlflow.source.git.commit"]
    assert parents[0].info.run_name == f"tiny {commit[:7]}"
    assert parents[0].data.params["stages"] == ",".join(STAGES)
    assert parents[0].data.params["preset"] == "tiny"
    assert parents[0].data.params["align.text_variant"]
    assert parents[0].data.metrics == {"value": len("align")}
    nested = {r.data.tags["realign.stage"]: r for r in runs if r.info.run_id != parent_id}
    assert set(nested) == set(STAGES)
    for stage, run in nested.items():
        assert run.data.tags["mlflow.parentRunId"] == parent_id
        assert run.data.tags["prefect.flow_run_id"] == parents[0].data.tags["prefect.flow_run_id"]
        assert run.data.tags["dvc.stage_hash"]
        assert run.info.run_name == f"{stage} ({parents[0].info.run_name})"
        # the stage subprocess received its own run id explicitly
        assert (toy_workspace / "artifacts" / stage / "run_id.txt").read_text() == run.info.run_id

    # align's progress artifact ends at done/total, whatever the last update the stage wrote
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as prefect:
        found = prefect.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["progress-align"]))
        )
    progress = max(found, key=lambda a: a.created)  # this run's (the test server is shared)
    assert progress.data == 100.0 and progress.description.startswith("align: 4/4 (100%)")

    again = realign_pipeline(stages=STAGES, repo=str(toy_workspace))
    assert {r["status"] for r in again} == {"skipped"}

    forced = realign_pipeline(stages=("ingest",), force=True, repo=str(toy_workspace))
    assert forced[0]["status"] == "ran"


def test_status_tells_resumed_from_ran_and_force_discards_the_state(
    toy_workspace, prefect_harness, monkeypatch
) -> None:
    """A stage that continues from resumable state is `resumed`; `force` discards that state,
    so the forced rerun recomputes and reports `ran`."""
    from flows.pipeline import realign_pipeline

    state = toy_workspace / ".state" / "ingest"
    state.parent.mkdir()
    state.write_text("shards of an interrupted run")
    rows = realign_pipeline(stages=("ingest",), repo=str(toy_workspace))
    assert rows[0]["status"] == "resumed" and state.exists()
    forced = realign_pipeline(stages=("ingest",), force=True, repo=str(toy_workspace))
    assert forced[0]["status"] == "ran" and not state.exists()


def test_failed_stage_fails_flow_and_keeps_previous_outputs(tmp_path, prefect_harness, monkeypatch):
    from flows.pipeline import realign_pipeline

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    ws = make_toy_workspace(tmp_path / "ws", failing="align")
    with pytest.raises(Exception, match="stage 'align' failed"):
        realign_pipeline(stages=STAGES, repo=str(ws))
    # the stages before it completed and their outputs are intact; DVC did not record align
    assert (ws / "artifacts" / "review_import" / "run_id.txt").is_file()
    lock = yaml.safe_load((ws / "dvc.lock").read_text())["stages"]
    assert "review_import" in lock and "align" not in lock
    runs = _client(ws).search_runs([_client(ws).get_experiment_by_name("realign").experiment_id])
    status = {r.data.tags.get("realign.stage"): r.info.status for r in runs}
    assert status["pipeline"] == "FAILED" and status["align"] == "FAILED"


def test_second_concurrent_run_is_refused(toy_workspace, prefect_harness) -> None:
    from flows.pipeline import realign_pipeline
    from flows.workspace import WorkspaceBusyError, workspace_lock

    with workspace_lock(toy_workspace, holder="another run"):
        with pytest.raises(WorkspaceBusyError, match="in use by another pipeline run"):
            realign_pipeline(stages=("ingest",), repo=str(toy_workspace))
    assert not (toy_workspace / "artifacts" / "ingest").exists()


def test_human_review_pauses_until_resumed_with_input(toy_workspace, prefect_harness) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateName,
    )
    from prefect.flow_runs import resume_flow_run

    from flows.pipeline import realign_pipeline

    result: dict = {}

    def run_flow() -> None:
        try:
            result["rows"] = realign_pipeline(
                stages=STAGES, review_mode="human", repo=str(toy_workspace)
            )
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            result["error"] = exc

    thread = threading.Thread(target=run_flow, daemon=True)
    thread.start()
    paused = None
    deadline = time.monotonic() + 120
    while paused is None and time.monotonic() < deadline and thread.is_alive():
        time.sleep(1)
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(name=FlowRunFilterStateName(any_=["Paused"]))
                )
            )
        paused = runs[0] if runs else None
    assert paused is not None, result.get("error")
    # stages before the review ran; the import has not
    assert (toy_workspace / "artifacts" / "review_export").is_dir()
    assert not (toy_workspace / "artifacts" / "review_import").exists()
    resume_flow_run(paused.id, run_input={"export_path": "", "use_auto_policy": True})
    thread.join(timeout=180)
    assert "error" not in result, result.get("error")
    assert [r["stage"] for r in result["rows"]] == STAGES
    assert yaml.safe_load((toy_workspace / "params.yaml").read_text())["review"]["mode"] == "auto"


def test_unchanged_stages_skip_dvc_until_something_runs(
    toy_workspace, prefect_harness, monkeypatch
) -> None:
    import tasks.stages
    from flows.pipeline import realign_pipeline

    realign_pipeline(stages=STAGES, repo=str(toy_workspace))
    experiment = _client(toy_workspace).get_experiment_by_name("realign").experiment_id
    runs_before = len(_client(toy_workspace).search_runs([experiment]))
    calls: list[str] = []
    real = tasks.stages.run_dvc_stage

    def recording(repo, stage, **kwargs):
        calls.append(stage)
        return real(repo, stage, **kwargs)

    monkeypatch.setattr(tasks.stages, "run_dvc_stage", recording)
    # nothing changed: DVC's status (in this process) answers for every stage, no process
    # starts, and no MLflow run is opened (a skipped row keeps its DVC hash and metrics)
    rows = realign_pipeline(stages=STAGES, repo=str(toy_workspace))
    assert calls == [] and {r["status"] for r in rows} == {"skipped"}
    assert all(r["dvc_stage_hash"] and r["metrics"] and not r["mlflow_run_id"] for r in rows)
    assert len(_client(toy_workspace).search_runs([experiment])) == runs_before
    # a changed output in the middle: only that stage goes through `dvc repro`, which restores
    # its recorded output from the run cache; the status asked again finds the rest unchanged
    (toy_workspace / "artifacts" / "review_export" / "run_id.txt").write_text("edited")
    rows = realign_pipeline(stages=STAGES, repo=str(toy_workspace))
    assert calls == ["review_export"]
    assert [r["status"] for r in rows] == ["skipped", "restored", "skipped", "skipped"]
    assert (toy_workspace / "artifacts" / "review_export" / "run_id.txt").read_text() != "edited"


def test_run_form_shows_each_parameter_with_its_description() -> None:
    """The deployment's form: flat typed fields, described, nothing hidden behind a model."""
    from prefect.utilities.callables import parameter_schema

    from flows.pipeline import realign_pipeline
    from flows.stage import realign_stage

    schema = parameter_schema(realign_pipeline).model_dump()
    fields = schema["properties"]
    assert list(fields) == ["preset", "stages", "review_mode", "force", "repo", "overrides"]
    assert all(field.get("description") for field in fields.values()), fields
    assert fields["preset"]["enum"] == ["tiny", "paper", "paper-aigcdetect", "paper-holmes"]
    assert fields["preset"]["default"] == "tiny"
    # the UI renders descriptions as markdown: no <placeholder> that it would swallow
    assert "presets/tiny.yaml" in fields["preset"]["description"]
    assert not any("<" in field["description"] for field in fields.values())
    assert fields["stages"]["type"] == "array" and "align" in fields["stages"]["items"]["enum"]
    assert fields["review_mode"]["enum"] == ["params", "auto", "human"]
    assert fields["force"] == {**fields["force"], "type": "boolean", "default": False}
    assert schema["required"] == []
    stage_fields = parameter_schema(realign_stage).model_dump()["properties"]
    assert all(field.get("description") for field in stage_fields.values()), stage_fields


def test_run_name_says_what_the_run_does() -> None:
    from flows.pipeline import _stage_list

    # (stages picked, expected part of the name)
    assert _stage_list(()) == "default stages"
    assert _stage_list(("ingest", "align")) == "ingest, align"
    assert _stage_list(("ingest", "grpo", "sample", "align")) == "ingest..align (4 stages)"


def test_flow_run_is_named_and_tagged(toy_workspace, prefect_harness) -> None:
    from prefect import get_client

    from flows.pipeline import realign_pipeline

    state = realign_pipeline(
        stages=("ingest",), force=True, repo=str(toy_workspace), return_state=True
    )
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
    assert run.name == "tiny: ingest, force"
    commit = [t for t in run.tags if t.startswith("commit:")]
    assert {"preset:tiny", "force:true"} <= set(run.tags) and len(commit) == 1
    # the stages artifact: a markdown table, one row per stage, with its headline numbers
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["realign-stages"]))
        )
    latest = max(artifacts, key=lambda a: a.created)
    assert latest.type == "markdown"
    assert "| stage | status | duration (s) | MLflow | DVC stage hash | headline metrics |" in (
        latest.data
    )
    assert "| ingest | ran |" in latest.data
