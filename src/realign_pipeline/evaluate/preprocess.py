"""Preprocessing policies: how a decoded (and perturbed) PIL image becomes the detector's input.

- `model` (default): the detector's own transform (`create_model_transform(spec)`, read from the
  exported `detector.json`): open_clip's resize of the shorter side + centre crop with the
  model's interpolation, exactly what the image tower saw in alignment training.
- `aigcdetect`: AIGCDetectBenchmark's evaluation code (`data/process.py::processing` with
  `custom_resize`): `transforms.Resize((loadSize, loadSize))` — a square resize that ignores the
  aspect ratio, torchvision's default bilinear (their `rz_interp` option is parsed but never
  passed) — then `CenterCrop(CropSize)`; loadSize = round(image_size * resize_scale) (256 for
  224, 384 for 336).
- `center_crop` (UniFD): centre-crop to image_size without resizing; images smaller than the
  crop are zero-padded (torchvision's `CenterCrop`), so small images see a black border.

The last two normalise with the detector spec's mean and std, so only the geometry differs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from PIL import Image
from torchvision import transforms

from realign_pipeline.errors import ConfigError

__all__ = ["Preprocess", "create_preprocess", "list_policies"]

Preprocess = Callable[[Image.Image], torch.Tensor]


def _normalise(mean: Sequence[float], std: Sequence[float]) -> list[Callable]:
    return [transforms.ToTensor(), transforms.Normalize(list(mean), list(std))]


def _aigcdetect(
    image_size: int, mean: Sequence[float], std: Sequence[float], resize_scale: float
) -> Preprocess:
    load_size = round(image_size * resize_scale)
    return transforms.Compose(
        [
            transforms.Resize(
                (load_size, load_size), interpolation=transforms.InterpolationMode.BILINEAR
            ),
            transforms.CenterCrop(image_size),
            *_normalise(mean, std),
        ]
    )


def _center_crop(
    image_size: int, mean: Sequence[float], std: Sequence[float], resize_scale: float
) -> Preprocess:
    del resize_scale  # no resize in this policy
    return transforms.Compose([transforms.CenterCrop(image_size), *_normalise(mean, std)])


_POLICIES: dict[str, Callable[..., Preprocess]] = {
    "aigcdetect": _aigcdetect,
    "center_crop": _center_crop,
}


def list_policies() -> list[str]:
    """Names accepted by `evaluate.preprocessing`."""
    return sorted([*_POLICIES, "model"])


def create_preprocess(
    policy: str,
    *,
    image_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    resize_scale: float,
    model_transform: Preprocess | None = None,
) -> Preprocess:
    """The PIL -> FloatTensor[3, image_size, image_size] function of one policy.

    Args:
        policy: one of `list_policies()`.
        image_size, mean, std: from the detector spec.
        resize_scale: loadSize / CropSize of `aigcdetect`.
        model_transform: the detector's own transform, required for `model`.

    Raises:
        ConfigError: unknown policy, or `model` without a model transform.
    """
    if policy == "model":
        if model_transform is None:
            raise ConfigError("evaluate.preprocessing=model needs the detector's transform")
        return model_transform
    if policy not in _POLICIES:
        raise ConfigError(
            f"evaluate.preprocessing: unknown policy {policy!r}; allowed: {list_policies()}"
        )
    return _POLICIES[policy](int(image_size), mean, std, resize_scale)
