"""Robustness perturbations, applied to the decoded RGB image before preprocessing.

All are deterministic (no randomness; same input, same output bytes):
- `jpeg`: re-encode with Pillow at quality q (default 4:2:0 subsampling), decode again;
- `blur`: Gaussian blur per channel with sigma in pixels (scipy's `gaussian_filter`, as
  CNNDetection/AIGCDetectBenchmark's blur augmentation), rounded back to 8 bits;
- `downscale`: bicubic resize by a factor < 1 (the preprocessing then scales it back up).

Condition names (the `perturbation` column): `none`, `jpeg_q75`, `blur_s1`, `downscale_0.5`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

from realign_pipeline.config.evaluate import PerturbationSpec

__all__ = ["NONE", "Perturbation", "apply_perturbation", "create_perturbations"]

NONE = "none"


@dataclass(frozen=True)
class Perturbation:
    """One evaluated condition: its name, kind (`none` for the clean images) and strength."""

    name: str
    kind: str
    value: float


def perturbation_name(spec: PerturbationSpec) -> str:
    """Stable condition name of a spec (`jpeg_q75`, `blur_s1`, `downscale_0.5`)."""
    if spec.kind == "jpeg":
        return f"jpeg_q{int(spec.value)}"
    if spec.kind == "blur":
        return f"blur_s{spec.value:g}"
    return f"downscale_{spec.value:g}"


def create_perturbations(specs: list[PerturbationSpec]) -> list[Perturbation]:
    """The clean condition followed by the grid from params, in params order."""
    return [Perturbation(NONE, NONE, 0.0)] + [
        Perturbation(perturbation_name(s), s.kind, float(s.value)) for s in specs
    ]


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


def _blur(image: Image.Image, sigma: float) -> Image.Image:
    arr = np.asarray(image, dtype=np.float32)
    out = np.empty_like(arr)
    for channel in range(arr.shape[2]):
        gaussian_filter(arr[:, :, channel], sigma=sigma, output=out[:, :, channel])
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), mode="RGB")


def _downscale(image: Image.Image, factor: float) -> Image.Image:
    width, height = image.size
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return image.resize(size, Image.Resampling.BICUBIC)


def apply_perturbation(image: Image.Image, perturbation: Perturbation) -> Image.Image:
    """Return the perturbed copy of an RGB image (the clean condition returns it unchanged)."""
    if perturbation.kind == NONE:
        return image
    if perturbation.kind == "jpeg":
        return _jpeg(image, int(perturbation.value))
    if perturbation.kind == "blur":
        return _blur(image, perturbation.value)
    if perturbation.kind == "downscale":
        return _downscale(image, perturbation.value)
    raise ValueError(
        f"unknown perturbation kind {perturbation.kind!r}; allowed: jpeg, blur, downscale"
    )
