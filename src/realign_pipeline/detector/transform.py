"""The detector's own preprocessing (PIL RGB image -> normalised tensor), built from its spec.

This is open_clip's evaluation transform with the spec's image size, mean, std, interpolation and
resize mode: exactly what the image tower saw during alignment training. Other policies
(resize 256 + centre crop, centre crop only) belong to the evaluate stage.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from realign_pipeline.detector.spec import DetectorSpec


def create_model_transform(spec: DetectorSpec) -> Callable[[Any], Any]:
    """The model transform: PIL RGB image -> FloatTensor[3, image_size, image_size]."""
    from open_clip import image_transform

    return image_transform(
        spec.image_size,
        is_train=False,
        mean=tuple(spec.mean),
        std=tuple(spec.std),
        resize_mode=spec.resize_mode,
        interpolation=spec.interpolation,
    )
