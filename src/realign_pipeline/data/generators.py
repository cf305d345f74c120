"""Procedural stand-in "generators" for the demo data set.

They are not generative models: each turns a crop of a real photo into a fake with one
deliberate, learnable fingerprint of a family of real generators, so that the tiny pipeline has
something to detect and a benchmark can hold generators absent from training. They say nothing
about detection quality on real AI-generated images.

The tiny preset trains on upsampler and latent_grid: their fingerprints are fixed patterns whose
period divides 8 px (a model fingerprint in the sense of Marra et al., "Do GANs leave artificial
fingerprints?"), strong enough that the tiny ViT, trained from scratch on ~130 images, learns
them. The other generators' traces depend on the content (no noise, posterised colours, JPEG
blocks, seams): at 32 px the tiny detector does not pick them up from the training generators,
which is what the benchmark's unseen generators show.

Registry (`list_generators()`; `create_fake(name, content, rng, weights_rng)`):
    upsampler          untrained transposed-convolution upsampler (GAN decoders): periodic
                       checkerboard at period 2 and 4 in the spectrum, the same for every image
    denoise_resharpen  heavy denoise then strong unsharp mask (over-smoothed diffusion outputs):
                       no sensor noise, halos along edges
    resample_jpeg      half-size resampling, back up, then JPEG at quality 55-70 (laundered
                       images): 8x8 block grid and interpolation correlation
    colour_quantise    median-cut palette of 12-20 colours, no dither: flat posterised regions
    latent_grid        low-pass content plus a fixed 8-px pattern (latent-diffusion VAE
                       decoders' grid)
    patch_mosaic       image assembled from shuffled 8x8 patches of the content (patch-based
                       synthesis): incoherent layout, seams every 8 px, unseen in training

`content` is an RGB uint8 array of the output size; `weights_rng` is seeded per generator so
every fake of one generator shares its "network weights" (its fingerprint), while `rng` varies
per image.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage

from realign_pipeline.config.demo_data import GeneratorName

__all__ = ["StandInGenerator", "create_fake", "list_generators"]

FakeFn = Callable[[np.ndarray, np.random.Generator, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class StandInGenerator:
    """One registry entry: the function and a one-line description of its fingerprint."""

    make: FakeFn
    description: str


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    return np.clip(np.round(arr), 0, 255).astype(np.uint8)


def _resize(arr: np.ndarray, size: int, resample: Image.Resampling) -> np.ndarray:
    return np.asarray(Image.fromarray(arr).resize((size, size), resample))


def _transposed_conv(x: np.ndarray, kernels: np.ndarray) -> np.ndarray:
    """Stride-2 transposed convolution per channel: zero insertion then a 4x4 kernel."""
    h, w, c = x.shape
    stuffed = np.zeros((2 * h, 2 * w, c))
    stuffed[::2, ::2] = x
    out = np.empty_like(stuffed)
    for ch in range(c):
        out[..., ch] = ndimage.convolve(stuffed[..., ch], kernels[ch], mode="reflect")
    return out


def _make_upsampler(
    content: np.ndarray, rng: np.random.Generator, weights_rng: np.random.Generator
) -> np.ndarray:
    size = content.shape[0]
    x = _resize(content, size // 4, Image.Resampling.BOX).astype(np.float64)
    bilinear = np.outer([0.25, 0.75, 0.75, 0.25], [0.25, 0.75, 0.75, 0.25])
    for _ in range(2):
        # Random "weights" around a bilinear kernel; the taps that feed even and odd output
        # positions no longer sum alike, which is the checkerboard of untrained deconvolutions.
        noise = weights_rng.normal(0.0, 0.7, (3, 4, 4))
        kernels = bilinear[None] * (1.0 + noise)
        kernels *= 4.0 / kernels.sum(axis=(1, 2), keepdims=True)
        x = _transposed_conv(x, kernels)
        x = np.where(x > 0, x, 0.2 * x)  # leaky ReLU between layers
    x += rng.normal(0.0, 1.0, x.shape)  # per-image variation, far below the pattern's amplitude
    return _to_uint8(x)


def _make_denoise_resharpen(
    content: np.ndarray, rng: np.random.Generator, weights_rng: np.random.Generator
) -> np.ndarray:
    img = Image.fromarray(content).filter(ImageFilter.MedianFilter(3))
    img = img.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(1.2, 1.8))))
    percent = int(220 + 60 * weights_rng.random())
    return np.asarray(img.filter(ImageFilter.UnsharpMask(radius=2, percent=percent, threshold=0)))


def _make_resample_jpeg(
    content: np.ndarray, rng: np.random.Generator, weights_rng: np.random.Generator
) -> np.ndarray:
    size = content.shape[0]
    small = _resize(content, size // 2, Image.Resampling.BICUBIC)
    back = Image.fromarray(_resize(small, size, Image.Resampling.BICUBIC))
    buf = io.BytesIO()
    back.save(buf, format="JPEG", quality=int(rng.integers(55, 71)), subsampling=2)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def _make_colour_quantise(
    content: np.ndarray, rng: np.random.Generator, weights_rng: np.random.Generator
) -> np.ndarray:
    colours = int(rng.integers(12, 21))
    img = Image.fromarray(content).quantize(
        colors=colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
    )
    return np.asarray(img.convert("RGB"))


def _make_latent_grid(
    content: np.ndarray, rng: np.random.Generator, weights_rng: np.random.Generator
) -> np.ndarray:
    size = content.shape[0]
    smooth = ndimage.gaussian_filter(content.astype(np.float64), sigma=(1.0, 1.0, 0))
    tile = weights_rng.normal(0.0, 1.0, (8, 8, 3))
    tile = (tile - tile.mean()) / tile.std() * 8.0  # 8 grey levels: visible up close
    reps = -(-size // 8)
    grid = np.tile(tile, (reps, reps, 1))[:size, :size]
    return _to_uint8(smooth + grid * float(rng.uniform(0.8, 1.2)))


def _make_patch_mosaic(
    content: np.ndarray, rng: np.random.Generator, weights_rng: np.random.Generator
) -> np.ndarray:
    size = content.shape[0]
    n = size // 8
    patches = content[: n * 8, : n * 8].reshape(n, 8, n, 8, 3).swapaxes(1, 2).reshape(-1, 8, 8, 3)
    order = rng.permutation(len(patches))
    mosaic = patches[order].reshape(n, n, 8, 8, 3).swapaxes(1, 2).reshape(n * 8, n * 8, 3)
    out = content.copy()
    out[: n * 8, : n * 8] = mosaic
    return out


_REGISTRY: dict[GeneratorName, StandInGenerator] = {
    "upsampler": StandInGenerator(
        _make_upsampler, "untrained transposed-conv upsampler: checkerboard spectrum"
    ),
    "denoise_resharpen": StandInGenerator(
        _make_denoise_resharpen, "median+Gaussian denoise then unsharp mask: no noise, halos"
    ),
    "resample_jpeg": StandInGenerator(
        _make_resample_jpeg, "half-size bicubic resampling then JPEG q55-70: 8x8 block grid"
    ),
    "colour_quantise": StandInGenerator(
        _make_colour_quantise, "median-cut palette of 12-20 colours, no dither: posterised"
    ),
    "latent_grid": StandInGenerator(
        _make_latent_grid, "low-passed content plus a fixed 8-px pattern: VAE-decoder grid"
    ),
    "patch_mosaic": StandInGenerator(
        _make_patch_mosaic, "shuffled 8x8 patches of the content: seams, incoherent layout"
    ),
}


def list_generators() -> list[str]:
    """Names of the stand-in generators, sorted."""
    return sorted(_REGISTRY)


def describe_generator(name: str) -> str:
    """One-line description of a generator's fingerprint."""
    return _get(name).description


def _get(name: str) -> StandInGenerator:
    if name not in _REGISTRY:
        raise KeyError(f"unknown generator {name!r}; available: {list_generators()}")
    return _REGISTRY[name]  # type: ignore[index]


def create_fake(
    name: str,
    content: np.ndarray,
    rng: np.random.Generator,
    weights_rng: np.random.Generator,
) -> np.ndarray:
    """Make one fake image from `content` (RGB uint8, square, side a multiple of 8).

    Args:
        name: generator name (see `list_generators()`).
        content: a real photo crop at the output size.
        rng: per-image randomness.
        weights_rng: per-generator randomness (a fresh generator with the same seed for every
            image of one generator, so they share its fingerprint).

    Returns:
        RGB uint8 array of the same shape as `content`.
    """
    out = _get(name).make(content, rng, weights_rng)
    assert out.shape == content.shape and out.dtype == np.uint8, (name, out.shape, out.dtype)
    return out
