"""The detector as an MLflow pyfunc model: image paths or bytes in, p_fake out.

Logged as a "model from code" (`pyfunc_model.py` beside this file) with the exported detector
folder as an artifact, so nothing is pickled: on load MLflow runs that file, which builds
`DetectorPyfunc`, and `load_context` reads the safetensors weights with `load_detector`.
Serve it with `mlflow models serve -m runs:/<run_id>/detector --env-manager local`.

Input: a DataFrame with a `path` column (image file paths) or an `image` column (raw bytes, or
base64 text as JSON requests carry it). Output: a DataFrame with `p_fake`, `label` and `error`
(null unless the image could not be decoded), one row per input row.

This module and `realign_pipeline.tracking` are the only ones that import mlflow.
"""

from __future__ import annotations

import base64
import binascii
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from realign_pipeline.detector.detect import detect_sources
from realign_pipeline.detector.model import load_detector

ARTIFACT_KEY = "detector"
MODEL_NAME = "detector"
_REQUIREMENTS = ("torch", "open_clip_torch", "safetensors", "pillow", "pandas", "numpy", "mlflow")


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error:
            return b""  # reported as empty_file by the decoder
    raise TypeError(f"image column values must be bytes or base64 text, got {type(value)}")


class DetectorPyfunc(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper around `load_detector` and `detect_sources`."""

    def load_context(self, context: Any) -> None:
        self.detector = load_detector(context.artifacts[ARTIFACT_KEY])

    # No type hints here on purpose: MLflow would derive a schema from them that overrides the
    # explicit signature (optional `path` or binary `image` column) logged with the model.
    def predict(self, context, model_input, params=None):
        """p_fake, label and error for each row of `model_input` (see the module docstring)."""
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        if "path" in frame.columns:
            names = [str(p) for p in frame["path"]]
            sources: list = [Path(p) for p in names]
        elif "image" in frame.columns:
            sources = [_as_bytes(v) for v in frame["image"]]
            names = [str(i) for i in range(len(sources))]
        else:
            raise ValueError(f"expected a 'path' or 'image' column, got {list(frame.columns)}")
        batch_size = int((params or {}).get("batch_size", 32))
        records = list(detect_sources(self.detector, names, sources, batch_size=batch_size))
        return pd.DataFrame(
            {
                "p_fake": [r.get("p_fake") for r in records],
                "label": [r.get("label") for r in records],
                "error": [r.get("error") for r in records],
            }
        )


def _requirements() -> list[str]:
    pins = []
    for name in _REQUIREMENTS:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pins.append(name)
    return pins


def _signature() -> Any:
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    inputs = Schema(
        [ColSpec("string", "path", required=False), ColSpec("binary", "image", required=False)]
    )
    outputs = Schema(
        [ColSpec("double", "p_fake"), ColSpec("string", "label"), ColSpec("string", "error")]
    )
    return ModelSignature(inputs=inputs, outputs=outputs)


def log_detector_model(tracker: Any, detector_dir: Path) -> str:
    """Log `detector_dir` as a pyfunc model named `detector` in the tracker's run.

    Returns:
        The model URI (`runs:/<run_id>/detector`).
    """
    package_dir = Path(__file__).resolve().parents[1]
    with tracker.activated():
        info = mlflow.pyfunc.log_model(
            name=MODEL_NAME,
            python_model=str(Path(__file__).with_name("pyfunc_model.py")),
            artifacts={ARTIFACT_KEY: str(Path(detector_dir).resolve())},
            code_paths=[str(package_dir)],
            pip_requirements=_requirements(),
            signature=_signature(),
        )
    return info.model_uri if info is not None else f"runs:/{tracker.run_id}/{MODEL_NAME}"
