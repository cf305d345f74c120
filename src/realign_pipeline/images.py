"""Safe image decoding shared by every stage that reads pixels (ingest, sample, align, evaluate,
detect).

`decode_image` turns bytes into an RGB PIL image or raises `ImageRejected` with a short machine
reason. Normalisation rules (documented in the README):

- EXIF orientation is applied (`ImageOps.exif_transpose`), then the tag no longer matters.
- Animated GIF/WebP and multi-page TIFF: the first frame is used.
- CMYK, YCbCr, LAB, palette, grayscale (L, LA, 1): converted to RGB by Pillow.
- 16/32-bit grayscale (I;16, I, F): rescaled linearly to 8 bits (Pillow's plain conversion would
  clip everything above 255 to white), then RGB.
- Alpha (RGBA, LA, PA, palette with transparency): the alpha channel is dropped, colour values
  are kept as stored (no compositing, which would change the pixels a detector looks at).
- Rejected: empty, undecodable or truncated data; more than `max_pixels` pixels (decompression
  bomb, checked from the header before decoding); a side shorter than `min_side`.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

__all__ = ["DecodedImage", "ImageRejected", "decode_image", "load_image"]

# Never let Pillow fill a truncated file with grey: truncation must be a rejection.
ImageFile.LOAD_TRUNCATED_IMAGES = False

DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's own decompression-bomb threshold
_HIGH_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}


class ImageRejected(ValueError):
    """An image that cannot be used; `reason` is a short, stable code for the rejected table."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class DecodedImage:
    """An RGB image plus what it was before normalisation."""

    image: Image.Image
    format: str
    mode: str
    width: int
    height: int
    n_frames: int
    normalised: tuple[str, ...] = field(default=())


def _to_rgb(img: Image.Image, steps: list[str]) -> Image.Image:
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in _HIGH_BIT_MODES:
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        img = Image.fromarray(((arr - lo) * scale).round().astype(np.uint8), mode="L")
        steps.append(f"rescaled_{mode}_to_8bit")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in {"RGBA", "LA", "PA", "RGBa", "La"}:
        steps.append("dropped_alpha")
    steps.append(f"converted_{mode}_to_RGB")
    return img.convert("RGB")


def decode_image(
    data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, min_side: int = 1
) -> DecodedImage:
    """Decode image bytes to a normalised RGB image.

    Raises:
        ImageRejected: reason is one of `empty_file`, `not_an_image`, `too_many_pixels`,
            `too_small`, `truncated_or_corrupt`.
    """
    if not data:
        raise ImageRejected("empty_file")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRejected("too_many_pixels", str(exc)) from None
        except UnidentifiedImageError:
            raise ImageRejected("not_an_image") from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageRejected("truncated_or_corrupt", str(exc)) from None
    fmt = img.format or "unknown"
    width, height = img.size
    if width * height > max_pixels:
        raise ImageRejected("too_many_pixels", f"{width}x{height} > {max_pixels} pixels")
    n_frames = int(getattr(img, "n_frames", 1) or 1)
    steps: list[str] = []
    try:
        img.seek(0)
        img.load()
        if n_frames > 1:
            steps.append(f"first_of_{n_frames}_frames")
        orig_mode = img.mode
        if _has_rotation(img):
            img = ImageOps.exif_transpose(img)
            steps.append("exif_transposed")
        rgb = _to_rgb(img, steps)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRejected("truncated_or_corrupt", str(exc)) from None
    if min(rgb.size) < min_side:
        raise ImageRejected("too_small", f"{rgb.size[0]}x{rgb.size[1]} < min side {min_side}")
    return DecodedImage(rgb, fmt, orig_mode, rgb.size[0], rgb.size[1], n_frames, tuple(steps))


def _has_rotation(img: Image.Image) -> bool:
    try:
        return int(img.getexif().get(0x0112, 1)) not in (0, 1)
    except (AttributeError, ValueError, TypeError):
        return False


def load_image(
    path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS, min_side: int = 1
) -> Image.Image:
    """Read and decode one file to RGB (see `decode_image`); OSError on read becomes a rejection."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImageRejected("unreadable", str(exc)) from None
    return decode_image(data, max_pixels=max_pixels, min_side=min_side).image
