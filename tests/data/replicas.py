"""Miniature replicas of the public data sets, laid out as their own repositories ship them.

Folder names, nesting, extensions and side files follow the sources named in docs/ingest.md
(CNNDetection's README and data loader, AIGCDetectBenchmark's eval_config.py and
`loadpathslist`, UniversalFakeDetect's README, AIGI-Holmes' README, GenImage's corrupted-file
lists, AIDE's TestDataset). Each builder writes one or two tiny images per leaf folder and
returns what ingest must make of every image: path (relative to the data root) -> (label,
generator, category), plus the side files it must record.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

LSUN_20 = (
    "airplane bicycle bird boat bottle bus car cat chair cow diningtable dog horse motorbike "
    "person pottedplant sheep sofa train tvmonitor"
).split()
# AIGCDetectBenchmark's eval_config.py `vals` (+ SDXL, added later) and the category folders of
# the CNNDetection generators that have them (CNNDetection's README: "ProGAN, StyleGAN, StyleGAN2,
# CycleGAN testset contains multiple classes"; the class names are those of the released zip).
AIGCDETECT_TEST: dict[str, tuple[str, ...]] = {
    "progan": tuple(LSUN_20),
    "stylegan": ("bedroom", "car", "cat"),
    "stylegan2": ("car", "cat", "church", "horse"),
    "cyclegan": ("apple", "horse", "orange", "summer", "winter", "zebra"),
    "biggan": (),
    "stargan": (),
    "gaugan": (),
    "whichfaceisreal": (),
    "ADM": (),
    "Glide": (),
    "Midjourney": (),
    "stable_diffusion_v_1_4": (),
    "stable_diffusion_v_1_5": (),
    "VQDM": (),
    "wukong": (),
    "DALLE2": (),
    "SDXL": (),
}
HOLMES_TEST = (
    "FLUX Infinity Janus-Pro-1B Janus-Pro-7B Janus LlamaGen PixArt-XL SD35-L Show-o VAR".split()
)
# GenImage: top folder as on its download drive / the archive's own folder (GenImage's
# data/corrupted_files/*.txt list ./imagenet_ai_0419_sdv4/train/ai/033_sdv4_00134.png)
GENIMAGE = {
    "ADM": "imagenet_ai_0508_adm",
    "BigGAN": "imagenet_ai_0419_biggan",
    "glide": "imagenet_glide",
    "Midjourney": "imagenet_midjourney",
    "stable_diffusion_v_1_4": "imagenet_ai_0419_sdv4",
    "stable_diffusion_v_1_5": "imagenet_ai_0424_sdv5",
    "VQDM": "imagenet_ai_0419_vqdm",
    "wukong": "imagenet_ai_0424_wukong",
}


@dataclass
class Replica:
    """What ingest must find: every image's (label, generator, category) and the side files."""

    images: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    side_files: set[str] = field(default_factory=set)


def _image(seed: int, ext: str) -> bytes:
    """A 32x32 image in the format of `ext`; distinct seeds give distinct bytes."""
    colour = tuple((seed * k) % 256 for k in (7, 31, 101))
    image = Image.new("RGB", (32, 32), colour)  # type: ignore[arg-type]
    image.putpixel((seed % 32, (seed // 32) % 32), (255 - colour[0], 0, 0))
    image.putpixel((7, 7), (seed // 1024 % 256, seed // 4 % 256, 3))
    buf = io.BytesIO()
    image.save(buf, format="PNG" if ext.lower() == ".png" else "JPEG", quality=95)
    return buf.getvalue()


class _Builder:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.replica = Replica()
        self.seed = zlib.crc32(str(root).encode()) % 100_000  # distinct bytes across replicas

    def image(self, rel: str, label: int, generator: str, category: str = "") -> None:
        self.seed += 1
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_image(self.seed, path.suffix))
        self.replica.images[rel] = (label, generator, category)

    def side(self, rel: str, text: str = "{}\n") -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        self.replica.side_files.add(rel)

    def pair(self, folder: str, generator: str, category: str = "", real=".png", fake=".png"):
        self.image(f"{folder}/0_real/{len(self.replica.images):05d}{real}", 0, generator, category)
        self.image(f"{folder}/1_fake/{len(self.replica.images):05d}{fake}", 1, generator, category)


def build_progan_train(root: Path, base: str, *, progan_level: bool) -> Replica:
    """CNNDetection's training set: `train/<category>/{0_real,1_fake}` (its trainset.zip and
    `--classes`), or with UniversalFakeDetect's `train/progan/<category>/` level."""
    b = _Builder(root)
    top = f"{base}/progan" if progan_level else base
    for category in LSUN_20:
        b.pair(f"{top}/{category}", "progan", category)
    b.side(f"{top}/.DS_Store", "")  # CNNDetection's own example folder ships these
    b.side(f"{top}/airplane/0_real/._00000.png", "")  # AppleDouble, from a macOS-made archive
    return b.replica


def build_aigcdetect_test(root: Path, base: str) -> Replica:
    """AIGCDetectBenchmark's test set: `<generator>/[<category>/]{0_real,1_fake}`."""
    b = _Builder(root)
    for generator, categories in AIGCDETECT_TEST.items():
        # ImageNet-based diffusion sets keep ImageNet's .JPEG reals and PNG fakes
        real, fake = (
            (".JPEG", ".PNG") if generator in ("ADM", "VQDM", "Glide") else (".png", ".png")
        )
        for category in categories or ("",):
            folder = f"{base}/{generator}/{category}" if category else f"{base}/{generator}"
            b.pair(folder, generator, category, real=real, fake=fake)
    return b.replica


def build_holmes(root: Path, base: str, train_source: str) -> Replica:
    """AIGI-Holmes' README: `dataset/{0_real,1_fake}` + `*.jsonl` and
    `TestSet/<generator>/{0_real,1_fake}`."""
    b = _Builder(root)
    b.image(f"{base}/dataset/0_real/coco_000001.jpg", 0, train_source)
    b.image(f"{base}/dataset/0_real/face_000002.png", 0, train_source)
    b.image(f"{base}/dataset/1_fake/flux_000003.png", 1, train_source)
    b.image(f"{base}/dataset/1_fake/sdxl_000004.JPG", 1, train_source)
    b.side(f"{base}/dataset/sft.jsonl", '{"image": "1_fake/flux_000003.png"}\n')
    b.side(f"{base}/dataset/dpo.jsonl")
    for generator in HOLMES_TEST:
        b.pair(f"{base}/TestSet/{generator}", generator, fake=".PNG")
    return b.replica


def build_genimage(root: Path, base: str, split: str) -> Replica:
    """GenImage: `<generator>/<archive folder>/{train,val}/{ai,nature}` (ImageNet .JPEG reals,
    .PNG fakes). Only `split` is expected in the replica; the other split is written too."""
    b = _Builder(root)
    for generator, archive in GENIMAGE.items():
        for s in ("train", "val"):
            folder = f"{base}/{generator}/{archive}/{s}"
            rel_real = f"{folder}/nature/ILSVRC2012_val_{len(b.replica.images):08d}.JPEG"
            rel_fake = f"{folder}/ai/{len(b.replica.images):03d}_{archive[-4:]}_00001.PNG"
            b.image(rel_real, 0, generator)
            b.image(rel_fake, 1, generator)
            if s != split:
                b.replica.images.pop(rel_real)
                b.replica.images.pop(rel_fake)
    return b.replica


def build_chameleon(root: Path, base: str, generator: str) -> Replica:
    """AIDE's Chameleon test set: `{0_real,1_fake}` at the top (its TestDataset's flat case)."""
    b = _Builder(root)
    for i in range(2):
        b.image(f"{base}/0_real/{i}.jpg", 0, generator)
        b.image(f"{base}/1_fake/{i}.png", 1, generator)
    return b.replica
