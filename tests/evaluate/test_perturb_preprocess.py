"""Perturbations are deterministic and really applied; preprocessing policies give the right
geometry."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from realign_pipeline.config.evaluate import PerturbationSpec
from realign_pipeline.errors import ConfigError
from realign_pipeline.evaluate.perturb import apply_perturbation, create_perturbations
from realign_pipeline.evaluate.preprocess import create_preprocess, list_policies


def _image(width: int = 48, height: int = 40) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


def _conditions():
    specs = [
        PerturbationSpec(kind="jpeg", value=75),
        PerturbationSpec(kind="blur", value=1),
        PerturbationSpec(kind="downscale", value=0.5),
    ]
    return create_perturbations(specs)


def test_condition_names_start_with_clean() -> None:
    assert [p.name for p in _conditions()] == ["none", "jpeg_q75", "blur_s1", "downscale_0.5"]


def test_perturbations_are_applied_and_deterministic() -> None:
    image = _image()
    original = np.asarray(image)
    for condition in _conditions():
        first = np.asarray(apply_perturbation(image, condition))
        second = np.asarray(apply_perturbation(image, condition))
        assert np.array_equal(first, second), condition.name  # same input, same pixels
        if condition.name == "none":
            assert np.array_equal(first, original)
        elif condition.kind == "downscale":
            assert first.shape == (20, 24, 3)
        else:  # JPEG-75 and blur change the pixels of the original
            assert first.shape == original.shape
            assert np.abs(first.astype(int) - original.astype(int)).mean() > 1.0, condition.name


def test_stronger_jpeg_changes_more() -> None:
    image = _image()
    original = np.asarray(image).astype(int)
    errors = []
    for quality in (95, 50):
        spec = PerturbationSpec(kind="jpeg", value=quality)
        out = apply_perturbation(image, create_perturbations([spec])[1])
        errors.append(np.abs(np.asarray(out).astype(int) - original).mean())
    assert errors[0] < errors[1]


@pytest.mark.parametrize(
    ("kind", "value"),
    [("jpeg", 99), ("jpeg", 75.5), ("downscale", 1.0), ("blur", 0)],  # out of range / not int
)
def test_bad_perturbation_specs_are_refused(kind: str, value: float) -> None:
    with pytest.raises(ValueError):
        PerturbationSpec(kind=kind, value=value)


def test_aigcdetect_and_center_crop_shapes() -> None:
    kwargs = {"image_size": 32, "mean": (0.5,) * 3, "std": (0.5,) * 3, "resize_scale": 256 / 224}
    for policy in ("aigcdetect", "center_crop"):
        out = create_preprocess(policy, **kwargs)(_image(80, 64))
        assert tuple(out.shape) == (3, 32, 32), policy
    # centre crop of a small image zero-pads (value -1 after normalising 0 with mean/std 0.5)
    padded = create_preprocess("center_crop", **kwargs)(_image(16, 16))
    assert padded[:, 0, 0].tolist() == [-1.0, -1.0, -1.0]
    resized = create_preprocess("aigcdetect", **kwargs)(_image(16, 16))
    assert resized[:, 0, 0].tolist() != [-1.0, -1.0, -1.0]


def test_policy_errors_name_the_allowed_values() -> None:
    with pytest.raises(ConfigError, match="allowed"):
        create_preprocess("squash", image_size=8, mean=(0,) * 3, std=(1,) * 3, resize_scale=1.0)
    with pytest.raises(ConfigError, match="model"):
        create_preprocess("model", image_size=8, mean=(0,) * 3, std=(1,) * 3, resize_scale=1.0)
    assert list_policies() == ["aigcdetect", "center_crop", "model"]


CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def _aigcdetect_port(load_size: int, crop_size: int):
    """A port of AIGCDetectBenchmark's test-time `processing(img, opt, 'clip')` (data/process.py)
    with its `custom_resize` (data/datasets.py): isTrain and isVal False, no_resize and no_crop
    False, so data_augment and the flip are identities. `custom_resize` samples `rz_interp` but
    calls `torchvision.transforms.Resize((loadSize, loadSize))` without it (default bilinear)."""
    import torchvision
    from torchvision import transforms

    def custom_resize(img):
        return torchvision.transforms.Resize((load_size, load_size))(img)

    return transforms.Compose(
        [
            transforms.Lambda(custom_resize),
            transforms.Lambda(lambda img: img),  # data_augment only when training/validating
            transforms.CenterCrop(crop_size),
            transforms.Lambda(lambda img: img),  # no flip at test time
            transforms.ToTensor(),
            transforms.Normalize(mean=CLIP_MEAN, std=CLIP_STD),
        ]
    )


@pytest.mark.parametrize(
    ("width", "height", "crop", "load"),
    [
        (512, 384, 336, 384),  # landscape, ViT-L-14-336 (resize_scale 384/336 = 256/224)
        (683, 1024, 336, 384),  # portrait, odd side
        (300, 200, 224, 256),  # the benchmark's own 256 -> 224, upscaled crop region
    ],
)
def test_aigcdetect_policy_equals_the_benchmarks_code(width, height, crop, load) -> None:
    image = _image(width, height)
    ours = create_preprocess(
        "aigcdetect", image_size=crop, mean=CLIP_MEAN, std=CLIP_STD, resize_scale=load / crop
    )(image)
    theirs = _aigcdetect_port(load, crop)(image)
    assert ours.shape == theirs.shape == (3, crop, crop)
    assert torch.equal(ours, theirs)


def test_aigcdetect_resizes_to_a_square_not_the_shorter_side() -> None:
    # a 2:1 stripe pattern: a square resize squeezes the width, a shorter-side resize would not
    from torchvision import transforms

    image = _image(512, 256)
    ours = create_preprocess(
        "aigcdetect", image_size=224, mean=(0.5,) * 3, std=(0.5,) * 3, resize_scale=256 / 224
    )(image)
    shorter_side = transforms.Compose(
        [transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor()]
    )(image)
    assert not torch.allclose(ours, shorter_side * 2 - 1, atol=0.1)
