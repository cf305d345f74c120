"""Pretrained weights load with the activation they were trained with (QuickGELU for OpenAI's
CLIP), by tag or from a local file built offline from the tiny architecture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from realign_pipeline.align.models import SIDECAR_CONFIG, _resolve_weights, create_clip, create_spec
from realign_pipeline.errors import ConfigError
from realign_pipeline.model_configs import register_model_configs

ARCH = "realign-tiny-vit"


def _activation(model: torch.nn.Module) -> str:
    return type(model.visual.transformer.resblocks[0].mlp.gelu).__name__


@pytest.fixture
def quickgelu_weights(tmp_path: Path) -> tuple[Path, torch.nn.Module]:
    """A tiny CLIP trained 'with QuickGELU' (built so), saved as a plain safetensors file."""
    import open_clip

    register_model_configs()
    torch.manual_seed(123)
    model = open_clip.create_model(ARCH, pretrained=None, force_quick_gelu=True).eval()
    path = tmp_path / "weights" / "clip.safetensors"
    path.parent.mkdir()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path, model


def _same_outputs(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    pixels = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return torch.equal(a.encode_image(pixels), b.eval().encode_image(pixels))


def test_local_file_with_quick_gelu_true_loads_the_trained_architecture(
    quickgelu_weights, tiny_align_cfg
):
    path, reference = quickgelu_weights
    bundle = create_clip(ARCH, str(path), seed=0, quick_gelu=True)
    assert _activation(bundle.model) == "QuickGELU"
    assert _same_outputs(reference, bundle.model)
    assert create_spec(bundle, tiny_align_cfg, {}).model_config_dict["quick_gelu"] is True


def test_local_file_with_gelu_differs_from_the_trained_model(quickgelu_weights):
    # the silent degradation the setting prevents: same weights, other activation
    path, reference = quickgelu_weights
    bundle = create_clip(ARCH, str(path), seed=0, quick_gelu=False)
    assert _activation(bundle.model) == "GELU"
    assert not _same_outputs(reference, bundle.model)
    # other activation, other text embeddings: another text-cache key
    assert bundle.model_key != create_clip(ARCH, str(path), seed=0, quick_gelu=True).model_key


def test_local_file_reads_open_clip_config_beside_it(quickgelu_weights):
    path, reference = quickgelu_weights
    (path.parent / SIDECAR_CONFIG).write_text(json.dumps({"model_cfg": {"quick_gelu": True}}))
    bundle = create_clip(ARCH, str(path), seed=0)
    assert _activation(bundle.model) == "QuickGELU" and _same_outputs(reference, bundle.model)
    with pytest.raises(ConfigError, match="contradicts"):
        create_clip(ARCH, str(path), seed=0, quick_gelu=False)


def test_local_file_that_does_not_say_its_activation_is_refused(quickgelu_weights):
    path, _ = quickgelu_weights
    with pytest.raises(ConfigError, match="align.quick_gelu: true for OpenAI"):
        create_clip(ARCH, str(path), seed=0)


@pytest.mark.parametrize(
    ("quick_gelu", "expected"),
    [
        (None, True),  # the openai tag was trained with QuickGELU (no download: config only)
        (True, True),
    ],
)
def test_openai_tag_means_quick_gelu(quick_gelu, expected):
    assert _resolve_weights("ViT-L-14-336", "openai", 0, quick_gelu)[0] is expected


def test_openai_tag_with_gelu_is_refused():
    with pytest.raises(ConfigError, match="align.quick_gelu=False contradicts"):
        _resolve_weights("ViT-L-14-336", "openai", 0, False)
