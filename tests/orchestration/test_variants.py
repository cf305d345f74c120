"""Variants from the run form: overrides name the flow run, its tags and its MLflow parent run."""

from __future__ import annotations

import re

import pytest
import yaml


def _parents(ws) -> list:  # noqa: ANN001
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}")
    exp = client.get_experiment_by_name("realign").experiment_id
    return client.search_runs(
        [exp], "tags.`realign.stage` = 'pipeline'", order_by=["start_time ASC"]
    )


def test_overrides_name_the_run_and_its_parent_and_a_plain_run_gets_the_preset_back(
    toy_workspace, prefect_harness, monkeypatch
) -> None:
    from prefect import get_client

    from flows.pipeline import realign_pipeline

    # the preset's own tracking.uri is relative: point it at the toy workspace's store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{toy_workspace / 'mlflow.db'}")
    state = realign_pipeline(
        stages=("ingest",),
        repo=str(toy_workspace),
        overrides=("align.strategy=bce_only",),
        return_state=True,
    )
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
    assert run.name == "tiny align.strategy=bce_only: ingest"
    assert {"preset:tiny", "align.strategy=bce_only"} <= set(run.tags)
    (variant,) = _parents(toy_workspace)
    assert re.fullmatch(r"tiny align\.strategy=bce_only [0-9a-f]{7}", variant.info.run_name)
    assert variant.data.tags["realign.variant"] == "tiny align.strategy=bce_only"
    assert variant.data.params["align.strategy"] == "bce_only"
    assert variant.data.params["align.lora.r"] == "6"

    # the next run without overrides is the preset again, not the last variant
    realign_pipeline(stages=("ingest",), repo=str(toy_workspace))
    params = yaml.safe_load((toy_workspace / "params.yaml").read_text())
    assert params["align"]["strategy"] == "joint"
    plain = _parents(toy_workspace)[-1]
    assert re.fullmatch(r"tiny [0-9a-f]{7}", plain.info.run_name)
    assert plain.data.params["align.strategy"] == "joint"


def test_an_override_that_is_not_a_config_key_stops_before_any_stage(
    toy_workspace, prefect_harness
) -> None:
    from flows.pipeline import realign_pipeline
    from realign_pipeline.errors import ConfigError

    before = (toy_workspace / "params.yaml").read_text()
    with pytest.raises(ConfigError, match="align.strategyy"):
        realign_pipeline(
            stages=("ingest",), repo=str(toy_workspace), overrides=("align.strategyy=bce_only",)
        )
    assert (toy_workspace / "params.yaml").read_text() == before
    assert not (toy_workspace / "artifacts").exists()


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        # Prefect's generated name: replaced by what the run does
        ("crafty-lemur", "tiny align.learning_rate=3e-4: default stages"),
        ("beta-holna-p", "tiny align.learning_rate=3e-4: default stages"),  # the UI's form
        # typed in the form's Run Name: kept
        ("lr sweep 1", "lr sweep 1"),
    ],
)
def test_run_name_keeps_a_typed_name(monkeypatch, current: str, expected: str) -> None:
    from prefect.runtime import flow_run

    from flows.pipeline import _run_name

    monkeypatch.setattr(flow_run, "name", current, raising=False)
    params = {"preset": "tiny", "overrides": ["align.learning_rate=3e-4"]}
    monkeypatch.setattr(flow_run, "parameters", params, raising=False)
    assert _run_name() == expected
