"""The detector as an MLflow pyfunc: logged from code (no pickle), loads, scores paths and bytes."""

from __future__ import annotations

import base64
from pathlib import Path

import pandas as pd
import pytest

from realign_pipeline.detector import detect_paths, load_detector
from realign_pipeline.tracking import start_stage_run


def test_pyfunc_model_scores_paths_and_bytes(
    tiny_detector_dir, synthetic_data, tracking_cfg, monkeypatch
):
    import mlflow

    from realign_pipeline.detector.pyfunc import log_detector_model

    data_root, _ = synthetic_data
    images = sorted(data_root.rglob("*.png"))[:3]
    with start_stage_run(tracking_cfg, "align", "tiny") as tracker:
        uri = log_detector_model(tracker, tiny_detector_dir)
    # resolving a models:/ URI goes through MLflow's global tracking URI, as `mlflow models
    # serve` does with MLFLOW_TRACKING_URI set
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_cfg.uri)
    model_dir = Path(mlflow.artifacts.download_artifacts(uri, tracking_uri=tracking_cfg.uri))
    assert not list(model_dir.rglob("*.pkl")) and not list(model_dir.rglob("python_model*"))
    model = mlflow.pyfunc.load_model(str(model_dir))
    expected = [r["p_fake"] for r in detect_paths(load_detector(tiny_detector_dir), images)]

    by_path = model.predict(pd.DataFrame({"path": [str(p) for p in images]}))
    assert by_path["p_fake"].tolist() == pytest.approx(expected, abs=1e-6)
    assert by_path["error"].isna().all()

    encoded = [base64.b64encode(p.read_bytes()).decode() for p in images] + ["bm90IGFuIGltYWdl"]
    by_bytes = model.predict(pd.DataFrame({"image": encoded}))
    assert by_bytes["p_fake"].tolist()[:3] == pytest.approx(expected, abs=1e-6)
    assert by_bytes["error"].tolist()[3] == "not_an_image"
