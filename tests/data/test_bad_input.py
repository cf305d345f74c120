"""The bad-input corpus: every case is normalised (accepted, with the step recorded) or rejected
with its reason, ingest never crashes, and accepted + rejected == files seen."""

from __future__ import annotations

import io
import os
import shutil
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from realign_pipeline.data import run_ingest
from tests.data.data_helpers import image_bytes, ingest_config, write


def _encode(img: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _rgb(seed: int, size: tuple[int, int] = (64, 48)) -> Image.Image:
    return Image.open(io.BytesIO(image_bytes(seed, size))).convert("RGB")


def _half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _bomb_png() -> bytes:
    """A valid PNG header declaring 20000x20000 pixels (400 M): rejected before decoding."""
    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


def _palette_transparent() -> bytes:
    img = _rgb(5).quantize(colors=16)
    return _encode(img, "PNG", transparency=0)


def _sixteen_bit() -> bytes:
    arr = (np.arange(64 * 48).reshape(48, 64) * 20).astype(np.uint16)
    return _encode(Image.fromarray(arr), "PNG")  # uint16 -> mode I;16


def _animated_gif() -> bytes:
    frames = [_rgb(20 + i).quantize(colors=32) for i in range(3)]
    return _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)


def _multipage_tiff() -> bytes:
    return _encode(_rgb(30), "TIFF", save_all=True, append_images=[_rgb(31)])


def _exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    return _encode(_rgb(40, (64, 48)), "JPEG", exif=exif.tobytes())


# (file under data/train/gen/, bytes, expected) where expected is ("accepted", normalisation
# step or "") or ("rejected", reason). Files are PNG-named unless the case is about the name.
FileCase = tuple[str, Callable[[], bytes], tuple[str, str]]
FILE_CASES: list[FileCase] = [
    # nothing to read
    ("0_real/zero_byte.png", lambda: b"", ("rejected", "empty_file")),
    # JPEG cut in half: Pillow must not fill the rest with grey
    (
        "0_real/truncated.jpg",
        lambda: _half(image_bytes(1, fmt="JPEG")),
        ("rejected", "truncated_or_corrupt"),
    ),
    # PNG cut in half (inside IDAT)
    ("0_real/truncated.png", lambda: _half(image_bytes(2)), ("rejected", "truncated_or_corrupt")),
    # text with an image extension
    ("0_real/text.png", lambda: b"hello, I am not an image\n", ("rejected", "not_an_image")),
    # print-ready CMYK JPEG: converted to RGB
    (
        "0_real/cmyk.jpg",
        lambda: _encode(_rgb(3).convert("CMYK"), "JPEG"),
        ("accepted", "converted_CMYK_to_RGB"),
    ),
    # 16-bit grayscale PNG: rescaled to 8 bits, not clipped
    ("0_real/sixteen_bit.png", _sixteen_bit, ("accepted", "rescaled_I;16_to_8bit")),
    # palette with a transparent index: alpha dropped
    ("0_real/palette_alpha.png", _palette_transparent, ("accepted", "dropped_alpha")),
    # RGBA: alpha dropped, colours kept
    (
        "1_fake/rgba.png",
        lambda: _encode(_rgb(6).convert("RGBA"), "PNG"),
        ("accepted", "dropped_alpha"),
    ),
    # grayscale: converted to RGB
    (
        "1_fake/gray.png",
        lambda: _encode(_rgb(7).convert("L"), "PNG"),
        ("accepted", "converted_L_to_RGB"),
    ),
    # 1x1 image: below min_side
    (
        "1_fake/one_pixel.png",
        lambda: _encode(Image.new("RGB", (1, 1)), "PNG"),
        ("rejected", "too_small"),
    ),
    # decompression bomb: refused from the header
    ("1_fake/bomb.png", _bomb_png, ("rejected", "too_many_pixels")),
    # animated GIF: first frame
    ("1_fake/animated.gif", _animated_gif, ("accepted", "first_of_3_frames")),
    # multi-page TIFF: first page
    ("1_fake/multipage.tif", _multipage_tiff, ("accepted", "first_of_2_frames")),
    # EXIF orientation 6: transposed (64x48 stored, 48x64 displayed)
    ("1_fake/exif_rotated.jpg", _exif_rotated, ("accepted", "exif_transposed")),
    # a file type outside ingest.extensions (not a side file): recorded, not decoded
    ("1_fake/clip.mp4", lambda: b"\x00\x00\x00\x18ftypmp42", ("rejected", "unsupported_extension")),
    # a label folder that is neither real nor fake
    ("2_unsure/x.png", lambda: image_bytes(8), ("rejected", "unknown_label_folder")),
    # a file outside any label folder
    ("stray.png", lambda: image_bytes(9), ("rejected", "unexpected_location")),
    # the same bytes twice in one source: the first by path is kept
    ("0_real/dup_a.png", lambda: image_bytes(10), ("accepted", "")),
    ("0_real/dup_b.png", lambda: image_bytes(10), ("rejected", "duplicate")),
    # a train image whose bytes are also in the benchmark
    ("1_fake/leaked.png", lambda: image_bytes(11), ("rejected", "leakage")),
    # a plain, valid image
    ("0_real/good.png", lambda: image_bytes(12), ("accepted", "")),
]
# Entries made by the corpus builder itself (not plain files): path -> expected.
SPECIAL_CASES = {
    # a symlink to a file outside the data root
    "0_real/link_outside.png": ("rejected", "symlink_outside_root"),
    # a symlinked folder pointing outside the data root: one entry, not entered
    "linked_dir": ("rejected", "symlink_outside_root"),
    # a symlink to a file inside the root that no longer exists
    "0_real/dangling.png": ("rejected", "unreadable"),
    # a named pipe: never opened (reading it would block)
    "0_real/pipe.png": ("rejected", "not_a_regular_file"),
    # a file name with a byte that is not UTF-8 (stored with a \\xff escape)
    "0_real/bad\\xffname.png": ("rejected", "non_utf8_name"),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    """Build the corpus, ingest it once; (data_root, accepted rows, rejected rows)."""
    base = tmp_path_factory.mktemp("corpus")
    root, gen = base / "data", base / "data" / "train" / "gen"
    for rel, make, _ in FILE_CASES:
        write(gen / rel, make())
    outside = write(base / "outside" / "secret.png", image_bytes(50))
    os.symlink(outside, gen / "0_real" / "link_outside.png")
    os.symlink(outside.parent, gen / "linked_dir")
    os.symlink(gen / "0_real" / "gone.png", gen / "0_real" / "dangling.png")
    os.mkfifo(gen / "0_real" / "pipe.png")
    with open(os.fsencode(gen / "0_real") + b"/bad\xffname.png", "wb") as handle:
        handle.write(image_bytes(51))
    write(root / "bench" / "g" / "1_fake" / "same_as_train.png", image_bytes(11))
    write(root / "bench" / "g" / "0_real" / "real.png", image_bytes(52))
    cfg = ingest_config(
        train_sources=[{"name": "corpus", "layout": "aigcdetect", "path": "train"}],
        benchmarks=[{"name": "b", "layout": "aigcdetect", "path": "bench"}],
        val_fraction=0.0,
    )
    out = base / "manifests"
    result = run_ingest(root, out, base / "ingest.json", cfg, seed=0)
    assert result.counts["seen"] == len(FILE_CASES) + len(SPECIAL_CASES) + 2
    return root, pd.read_parquet(out / "train.parquet"), pd.read_parquet(out / "rejected.parquet")


ALL_CASES = [(rel, expected) for rel, _, expected in FILE_CASES] + list(SPECIAL_CASES.items())


@pytest.mark.parametrize(("rel", "expected"), ALL_CASES, ids=[c[0] for c in ALL_CASES])
def test_bad_input_case_is_normalised_or_rejected_with_reason(
    corpus: tuple[Path, pd.DataFrame, pd.DataFrame], rel: str, expected: tuple[str, str]
) -> None:
    _, accepted, rejected = corpus
    path = f"train/gen/{rel}"
    outcome, what = expected
    if outcome == "accepted":
        row = accepted[accepted["path"] == path]
        assert len(row) == 1, f"{path} not accepted; rejected as {rejected[rejected.path == path]}"
        steps = row.iloc[0]["normalised"]
        assert (what in steps.split(",")) if what else steps == "", steps
        assert row.iloc[0]["width"] >= 32 and row.iloc[0]["height"] >= 32
    else:
        row = rejected[rejected["path"] == path]
        assert list(row["reason"]) == [what], f"{path}: {row.to_dict('records')}"
        assert path not in set(accepted["path"])


def test_bad_input_counts_add_up(corpus: tuple[Path, pd.DataFrame, pd.DataFrame]) -> None:
    root, accepted, rejected = corpus
    metrics = pd.read_json(root.parent / "manifests" / "summary.json", typ="series")
    assert metrics["accepted"] + metrics["rejected"] == metrics["seen"]
    assert metrics["accepted"] == len(accepted) + 2  # + the benchmark images
    assert metrics["rejected"] == len(rejected) == sum(metrics["rejected_by_reason"].values())
    assert not set(accepted["path"]) & set(rejected["path"])


def test_exif_rotated_image_reports_displayed_size(
    corpus: tuple[Path, pd.DataFrame, pd.DataFrame],
) -> None:
    _, accepted, _ = corpus
    row = accepted[accepted["path"] == "train/gen/1_fake/exif_rotated.jpg"].iloc[0]
    assert (row["width"], row["height"]) == (48, 64)  # stored as 64x48, displayed rotated


def test_duplicate_and_leakage_details_name_the_other_copy(
    corpus: tuple[Path, pd.DataFrame, pd.DataFrame],
) -> None:
    _, _, rejected = corpus
    by_path = rejected.set_index("path")
    assert "train/gen/0_real/dup_a.png" in by_path.loc["train/gen/0_real/dup_b.png", "detail"]
    assert (
        "bench/g/1_fake/same_as_train.png" in by_path.loc["train/gen/1_fake/leaked.png", "detail"]
    )


def test_ingest_never_opens_the_pipe(tmp_path: Path) -> None:
    # Regression guard: a FIFO among images must not hang the stage (it would block on open).
    root = tmp_path / "data"
    write(root / "t" / "g" / "0_real" / "a.png", image_bytes(1))
    os.mkfifo(root / "t" / "g" / "0_real" / "p.png")
    write(root / "t" / "g" / "1_fake" / "b.png", image_bytes(2))
    cfg = ingest_config(
        train_sources=[{"name": "t", "layout": "aigcdetect", "path": "t"}],
        benchmarks=[],
        val_fraction=0.0,
    )
    result = run_ingest(root, tmp_path / "m", tmp_path / "m.json", cfg, seed=0)
    assert result.counts["rejected.not_a_regular_file"] == 1
    shutil.rmtree(root)
