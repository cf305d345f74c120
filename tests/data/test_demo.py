"""build_demo_data: byte-for-byte determinism, layout, and distinct generator fingerprints."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import get_args

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError
from scipy import ndimage

from realign_pipeline.config.demo_data import GeneratorName
from realign_pipeline.data import build_demo_data
from realign_pipeline.data.generators import create_fake, list_generators
from tests.data.data_helpers import demo_config


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo") / "data"
    build_demo_data(root, demo_config(), seed=0)
    return root


def test_same_seed_gives_identical_files(demo_root: Path, tmp_path: Path) -> None:
    build_demo_data(tmp_path / "again", demo_config(), seed=0)
    assert _tree(tmp_path / "again") == _tree(demo_root)


def test_other_seed_gives_other_images(demo_root: Path, tmp_path: Path) -> None:
    build_demo_data(tmp_path / "other", demo_config(), seed=1)
    first, other = _tree(demo_root), _tree(tmp_path / "other")
    assert first.keys() == other.keys()
    assert sum(first[k] != other[k] for k in first if k.endswith(".png")) == len(first) - 1


def test_layout_and_sizes_match_the_preset(demo_root: Path) -> None:
    cfg = demo_config()
    train = sorted(p.name for p in (demo_root / "train").iterdir())
    bench = sorted(p.name for p in (demo_root / "benchmarks" / cfg.benchmark_name).iterdir())
    assert train == sorted(cfg.train_generators) and bench == sorted(cfg.benchmark_generators)
    assert set(bench) - set(train), "the benchmark must hold generators unseen in training"
    for gen in train:
        n_real = len(list((demo_root / "train" / gen / "0_real").glob("*.png")))
        n_fake = len(list((demo_root / "train" / gen / "1_fake").glob("*.png")))
        assert (n_real, n_fake) == (cfg.train_real_per_generator, cfg.train_fake_per_generator)
    sizes = {Image.open(p).size for p in demo_root.rglob("*.png")}
    assert sizes == {(cfg.image_size, cfg.image_size)}
    assert {p.suffix for p in demo_root.rglob("*") if p.is_file()} == {".png", ".md"}


def test_rebuild_replaces_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "train" / "stale").mkdir(parents=True)
    small = {
        f"{split}_{label}_per_generator": 1
        for split in ("train", "benchmark")
        for label in ("real", "fake")
    }
    build_demo_data(root, demo_config(**small), seed=0)
    assert not (root / "train" / "stale").exists()


def _gray(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L"), dtype=np.float64)


def _nyquist_energy(path: Path) -> float:
    """Share of spectral energy on the Nyquist row/column (checkerboard)."""
    a = _gray(path)
    power = np.abs(np.fft.fft2(a - a.mean())) ** 2
    n = a.shape[0] // 2
    return float((power[n, :].sum() + power[:, n].sum()) / power.sum())


def _noise_level(path: Path) -> float:
    """Mean absolute difference from a 3x3 median (sensor noise and fine texture)."""
    a = _gray(path)
    return float(np.abs(a - ndimage.median_filter(a, 3)).mean())


def _block_edges(path: Path) -> float:
    """Horizontal gradient across 8-px block borders over gradient elsewhere."""
    d = np.abs(np.diff(_gray(path), axis=1))
    border = np.arange(d.shape[1]) % 8 == 7
    return float(d[:, border].mean() / (d[:, ~border].mean() + 1e-6))


def _colours(path: Path) -> float:
    return float(len(np.unique(np.asarray(Image.open(path)).reshape(-1, 3), axis=0)))


def _period8(path: Path) -> float:
    """Energy of the residual's mean 8x8 tile over the residual's energy (fixed 8-px pattern)."""
    a = _gray(path)
    r = a - ndimage.median_filter(a, 3)
    n = a.shape[0] // 8
    tile = r.reshape(n, 8, n, 8).mean(axis=(0, 2))
    return float((tile**2).mean() / ((r**2).mean() + 1e-9))


# generator -> (statistic, how the fakes' median compares with the reals' median)
FINGERPRINTS: dict[str, tuple[Callable[[Path], float], Callable[[float, float], bool]]] = {
    # checkerboard of the untrained transposed convolution
    "upsampler": (_nyquist_energy, lambda fake, real: fake > 5 * real),
    # noise wiped out by the denoiser
    "denoise_resharpen": (_noise_level, lambda fake, real: fake < 0.5 * real),
    # JPEG's 8x8 block grid
    "resample_jpeg": (_block_edges, lambda fake, real: fake > 1.3 * real),
    # a palette of at most 20 colours
    "colour_quantise": (_colours, lambda fake, real: fake <= 20 < real),
    # the fixed 8-px VAE-like pattern
    "latent_grid": (_period8, lambda fake, real: fake > 5 * real),
    # seams between shuffled 8x8 patches
    "patch_mosaic": (_block_edges, lambda fake, real: fake > 3 * real),
}


def test_every_generator_has_a_fingerprint_test_and_a_config_name() -> None:
    assert sorted(FINGERPRINTS) == list_generators() == sorted(get_args(GeneratorName))


@pytest.mark.parametrize("generator", sorted(FINGERPRINTS))
def test_generator_fingerprint_separates_its_fakes_from_reals(
    demo_root: Path, generator: str
) -> None:
    stat, separates = FINGERPRINTS[generator]
    fakes = list(demo_root.glob(f"**/{generator}/1_fake/*.png"))
    reals = list(demo_root.glob("**/0_real/*.png"))
    assert fakes and reals
    fake = float(np.median([stat(p) for p in fakes]))
    real = float(np.median([stat(p) for p in reals]))
    assert separates(fake, real), (generator, fake, real)


def test_create_fake_names_the_valid_generators_on_a_miss() -> None:
    content = np.zeros((64, 64, 3), np.uint8)
    rng = np.random.default_rng(0)
    with pytest.raises(KeyError, match="unknown generator 'gan'; available: .*upsampler"):
        create_fake("gan", content, rng, rng)


@pytest.mark.parametrize(
    ("updates", "message"),
    [
        # a generator that does not exist
        ({"train_generators": ["stylegan"]}, "Input should be 'colour_quantise', "),
        # the same generator twice
        ({"benchmark_generators": ["upsampler", "upsampler"]}, "may appear once"),
        # sizes must split into 8x8 blocks
        ({"image_size": 60}, "multiple of 8"),
        # an unknown key
        ({"n_images": 3}, "Extra inputs are not permitted"),
    ],
)
def test_demo_config_rejects_bad_values(updates: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        demo_config(**updates)
