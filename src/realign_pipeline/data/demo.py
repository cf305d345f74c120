"""`realign demo-data`: build the seeded stand-in data set under `data/`.

Writes (replacing the folder atomically):
    <out>/train/<generator>/{0_real,1_fake}/*.png                (aigcdetect layout: train source)
    <out>/benchmarks/<name>/<generator>/{0_real,1_fake}/*.png    (benchmark, some unseen generators)
    <out>/DEMO.md                                                (what these images are)

Real images are random crops of the photos bundled with scikit-image (`skimage.data`, no
download), downscaled to `image_size` with a Lanczos filter. Fakes are other crops passed through
a procedural stand-in generator (`generators.py`). Every file is PNG, reals and fakes alike, so
the container format is no tell; the resample_jpeg generator's JPEG round trip is decoded and
stored as PNG too. The same seed and config give byte-identical files.

Run: `realign demo-data --out data`
"""

from __future__ import annotations

import io
import logging
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from realign_pipeline.atomic import atomic_dir, atomic_write_bytes, atomic_write_text
from realign_pipeline.config.demo_data import DemoDataConfig
from realign_pipeline.data.generators import create_fake, describe_generator
from realign_pipeline.results import StageResult

logger = logging.getLogger(__name__)

# Camera photographs (and microscope / telescope captures) that ship inside scikit-image; the
# drawings and synthetic test patterns of skimage.data are left out. Grayscale ones become RGB.
PHOTO_NAMES = (
    "astronaut",
    "brick",
    "camera",
    "chelsea",
    "clock",
    "coffee",
    "coins",
    "grass",
    "gravel",
    "hubble_deep_field",
    "immunohistochemistry",
    "moon",
    "retina",
    "rocket",
    "stereo_motorcycle",
)
_LABEL_DIRS = ("0_real", "1_fake")


def _load_photos() -> list[np.ndarray]:
    """The bundled photos as RGB uint8 arrays, in PHOTO_NAMES order."""
    import skimage.data

    photos = []
    for name in PHOTO_NAMES:
        arr = getattr(skimage.data, name)()
        if isinstance(arr, tuple):  # stereo_motorcycle: (left, right, disparity)
            arr = arr[0]
        if arr.ndim == 2:
            arr = np.stack([arr] * 3, axis=-1)
        photos.append(np.ascontiguousarray(arr[..., :3], dtype=np.uint8))
    return photos


def _crop(photos: list[np.ndarray], size: int, rng: np.random.Generator) -> np.ndarray:
    """A random square crop of a random photo, downscaled to `size` (Lanczos)."""
    photo = photos[int(rng.integers(len(photos)))]
    h, w = photo.shape[:2]
    side = int(rng.integers(size, min(h, w, 4 * size) + 1))
    top = int(rng.integers(h - side + 1))
    left = int(rng.integers(w - side + 1))
    patch = Image.fromarray(photo[top : top + side, left : left + side])
    if side != size:
        patch = patch.resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(patch)


def _png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def _key(text: str) -> int:
    """A stable integer for a name (Python's hash() is salted per process)."""
    return zlib.crc32(text.encode("utf-8"))


def _plan(cfg: DemoDataConfig) -> Iterator[tuple[str, str, int, int]]:
    """(folder, generator, label, index) for every image, in a fixed order."""
    parts = (
        ("train", cfg.train_generators, cfg.train_real_per_generator, cfg.train_fake_per_generator),
        (
            f"benchmarks/{cfg.benchmark_name}",
            cfg.benchmark_generators,
            cfg.benchmark_real_per_generator,
            cfg.benchmark_fake_per_generator,
        ),
    )
    for folder, generators, n_real, n_fake in parts:
        for generator in generators:
            for label, count in ((0, n_real), (1, n_fake)):
                for index in range(count):
                    yield folder, generator, label, index


def _make_image(
    photos: list[np.ndarray], cfg: DemoDataConfig, seed: int, item: tuple[str, str, int, int]
) -> bytes:
    folder, generator, label, index = item
    rng = np.random.default_rng([seed, _key(folder), _key(generator), label, index])
    content = _crop(photos, cfg.image_size, rng)
    if label == 0:
        return _png_bytes(content)
    weights_rng = np.random.default_rng([seed, _key(generator)])
    return _png_bytes(create_fake(generator, content, rng, weights_rng))


def _describe(cfg: DemoDataConfig, seed: int) -> str:
    unseen = [g for g in cfg.benchmark_generators if g not in cfg.train_generators]
    lines = [
        "# Demo data (stand-ins, built by `realign demo-data`)",
        "",
        "These images exercise the pipeline; they are NOT a measure of detection quality.",
        f"Real: {cfg.image_size}px crops of photos bundled with scikit-image "
        f"({', '.join(PHOTO_NAMES)}).",
        "Fake: other crops passed through procedural stand-in generators:",
        *(
            f"- {g}: {describe_generator(g)}"
            for g in sorted(set(cfg.train_generators + cfg.benchmark_generators))
        ),
        f"Benchmark `{cfg.benchmark_name}` generators absent from train: "
        f"{', '.join(unseen) or 'none'}.",
        f"All files are PNG. Seed: {seed}.",
        "",
    ]
    return "\n".join(lines)


def build_demo_data(out_dir: str | Path, cfg: DemoDataConfig, *, seed: int) -> StageResult:
    """Build the demo data set under `out_dir`, replacing it atomically.

    Args:
        out_dir: the data root to (re)build, e.g. `data`.
        cfg: the `demo_data` params section.
        seed: the global seed; the same seed and config give byte-identical files.

    Returns:
        A StageResult with the number of images per split and label.
    """
    out_dir = Path(out_dir)
    photos = _load_photos()
    counts: dict[str, int] = {}
    items = list(_plan(cfg))
    with atomic_dir(out_dir) as tmp:
        for item in tqdm(items, desc="demo-data", unit="img", disable=None):
            folder, generator, label, index = item
            name = f"{generator}_{'fake' if label else 'real'}_{index:03d}.png"
            path = tmp / folder / generator / _LABEL_DIRS[label] / name
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, _make_image(photos, cfg, seed, item))
            key = f"{folder.split('/')[0]}_{'fake' if label else 'real'}"
            counts[key] = counts.get(key, 0) + 1
        atomic_write_text(tmp / "DEMO.md", _describe(cfg, seed))
    counts["images"] = len(items)
    logger.info("demo data: %d images under %s (%s)", len(items), out_dir, counts)
    return StageResult(
        stage="demo_data",
        outputs={"data_root": str(out_dir)},
        counts=counts,
        extra={"train_generators": cfg.train_generators, "benchmark": cfg.benchmark_name},
    )
