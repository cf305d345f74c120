"""The detector's MLflow pyfunc model holds no pickle and never unpickles what lies beside it.

It is logged "from code" (a Python file plus the safetensors detector folder), so the logged
artifacts contain no pickle in any form (by name or by content), and loading a model folder into
which someone planted pickles (python_model.pkl, detector.pt, data.pkl) runs none of them. The
refusal of a pickle payload named detector.safetensors is tested in
tests/detector/test_detector_model.py::test_load_detector_refuses_pickle_payload.
"""

from __future__ import annotations

import pickle  # noqa: S403 - the test builds a poisoned payload on purpose
import zipfile
from pathlib import Path

import pandas as pd
import yaml

from realign_pipeline.tracking import start_stage_run

PICKLE_SUFFIXES = {".pkl", ".pickle", ".pt", ".pth", ".bin", ".ckpt", ".joblib", ".dill"}


def _is_pickle(path: Path) -> bool:
    """Pickle by content: a protocol-2+ header, or a torch.save zip with data.pkl inside."""
    head = path.read_bytes()[:2]
    if len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return True
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith(".pkl") for name in archive.namelist())
    return False


class _Poison:
    """Unpickling this writes a marker file: proof that someone loaded the pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (Path.write_text, (self.marker, "unpickled"))


def test_logged_pyfunc_holds_no_pickle_and_ignores_planted_ones(
    tracking_cfg, tmp_path, monkeypatch, synthetic_data
) -> None:
    import mlflow

    from realign_pipeline.detector.pyfunc import log_detector_model
    from tests.evaluate.conftest import make_tiny_detector

    detector = make_tiny_detector(tmp_path / "detector")
    with start_stage_run(tracking_cfg, "align", "tiny") as tracker:
        uri = log_detector_model(tracker, detector)
    # a models:/ URI resolves through MLflow's global tracking URI (as `mlflow models serve`)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_cfg.uri)
    model_dir = Path(mlflow.artifacts.download_artifacts(uri, tracking_uri=tracking_cfg.uri))
    files = [p for p in model_dir.rglob("*") if p.is_file()]
    assert any(p.name == "detector.safetensors" for p in files)
    assert not [p for p in files if p.suffix in PICKLE_SUFFIXES or _is_pickle(p)]
    flavour = yaml.safe_load((model_dir / "MLmodel").read_text())["flavors"]["python_function"]
    # a model from code: MLflow runs the file; a pickled object would be `python_model: *.pkl`
    assert flavour["loader_module"] == "mlflow.pyfunc.loaders.code_model"
    assert "python_model" not in flavour

    marker = tmp_path / "PWNED"
    payload = pickle.dumps(_Poison(marker))
    detector_dir = next(p.parent for p in files if p.name == "detector.safetensors")
    for planted in (
        model_dir / "python_model.pkl",
        model_dir / "data.pkl",
        detector_dir / "detector.pt",
        detector_dir / "data.pkl",
    ):
        planted.write_bytes(payload)
    model = mlflow.pyfunc.load_model(str(model_dir))
    data_root, _ = synthetic_data
    images = sorted(data_root.rglob("*.png"))[:2]
    scores = model.predict(pd.DataFrame({"path": [str(p) for p in images]}))
    assert scores["error"].isna().all() and len(scores) == 2
    assert not marker.exists(), "a planted pickle was loaded"
