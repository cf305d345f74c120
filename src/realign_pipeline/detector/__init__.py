"""The deployable ReAlign detector: merged image encoder + MLP head, safetensors + JSON spec.

Folder layout (`artifacts/detector/`):
    detector.safetensors   image tower (`visual.*`, LoRA merged) and head (`head.*`) weights
    detector.json          `DetectorSpec`: open_clip model config, preprocessing, threshold, head

API:
    detector = load_detector("artifacts/detector")          # torch, open_clip, safetensors only
    transform = create_model_transform(detector.spec)       # PIL RGB -> tensor
    logits = detector(pixels)                               # FloatTensor[B, 3, H, W] -> [B]
    p_fake = detector.predict_proba(pixels)
    for record in detect_paths(detector, ["img.jpg", "folder/"]): ...

The MLflow pyfunc wrapper lives in `realign_pipeline.detector.pyfunc` (imported on demand, since
it is the only module here that needs mlflow).
"""

from realign_pipeline.detector.detect import detect_paths, detect_sources, expand_inputs
from realign_pipeline.detector.model import (
    Detector,
    DetectorHead,
    create_detector,
    load_detector,
    save_detector,
)
from realign_pipeline.detector.spec import (
    FORMAT_VERSION,
    SPEC_FILE,
    WEIGHTS_FILE,
    DetectorSpec,
    HeadSpec,
    read_spec,
)
from realign_pipeline.detector.transform import create_model_transform

__all__ = [
    "FORMAT_VERSION",
    "SPEC_FILE",
    "WEIGHTS_FILE",
    "Detector",
    "DetectorHead",
    "DetectorSpec",
    "HeadSpec",
    "create_detector",
    "create_model_transform",
    "detect_paths",
    "detect_sources",
    "expand_inputs",
    "load_detector",
    "read_spec",
    "save_detector",
]
