"""open_clip factory for alignment: a CLIP from a name plus a pretrained tag, a local checkpoint
file, or random weights, and the detector spec that describes its image tower.

The tiny preset's architecture lives in `realign_pipeline/model_configs/` and is registered with
open_clip before any lookup, so `create_clip("realign-tiny-vit", None, seed=0)` works offline.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from realign_pipeline.config.align import AlignConfig
from realign_pipeline.detector.spec import FORMAT_VERSION, DetectorSpec, HeadSpec
from realign_pipeline.digest import compute_sha256
from realign_pipeline.errors import ConfigError, InputError
from realign_pipeline.hub import download_hint
from realign_pipeline.model_configs import register_model_configs

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipBundle:
    """A CLIP model with what is needed to tokenize, preprocess and identify it.

    Attributes:
        model: the open_clip CLIP (both towers, float32, on CPU).
        tokenizer: open_clip tokenizer of the architecture.
        model_config: effective open_clip config (quick_gelu set as the weights need).
        preprocess: open_clip preprocess config of the weights (size, mean, std, ...).
        model_key: identity of the weights (name + tag, file hash, or seed), keys the text cache.
    """

    model: nn.Module
    tokenizer: Any
    model_config: dict[str, Any]
    preprocess: dict[str, Any]
    model_key: str


SIDECAR_CONFIG = "open_clip_config.json"  # open_clip's config beside hub / local-dir weights


def _sidecar_quick_gelu(path: Path) -> bool | None:
    """`model_cfg.quick_gelu` of the open_clip_config.json beside a weights file, if any."""
    sidecar = path.parent / SIDECAR_CONFIG
    if not sidecar.is_file():
        return None
    try:
        model_cfg = json.loads(sidecar.read_text())["model_cfg"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{sidecar}: not an open_clip config with a model_cfg ({exc})") from None
    return bool(model_cfg.get("quick_gelu", False))


def _resolve_weights(
    model_name: str, pretrained: str | None, seed: int, quick_gelu: bool | None
) -> tuple[bool, str]:
    """(QuickGELU activations, model key) for a pretrained tag, a local file or random weights.

    The activation must be the one the weights were trained with (QuickGELU for OpenAI's CLIP):
    a tag says so itself; a local file says so through an open_clip_config.json beside it or
    through `align.quick_gelu`; random weights follow the architecture unless told otherwise.
    """
    import open_clip

    arch_default = bool(open_clip.get_model_config(model_name).get("quick_gelu", False))
    if pretrained is None:
        chosen = arch_default if quick_gelu is None else quick_gelu
        suffix = "" if chosen == arch_default else f"|quick_gelu={chosen}"
        return chosen, f"{model_name}|random|seed={seed}{suffix}"
    tag_cfg = open_clip.get_pretrained_cfg(model_name, pretrained)
    if tag_cfg:
        tag_quick_gelu = bool(tag_cfg.get("quick_gelu", False)) or arch_default
        if quick_gelu is not None and quick_gelu != tag_quick_gelu:
            raise ConfigError(
                f"align.quick_gelu={quick_gelu} contradicts the pretrained tag {pretrained!r} of "
                f"{model_name!r}, trained with quick_gelu={tag_quick_gelu}; set it to null"
            )
        return tag_quick_gelu, f"{model_name}|{pretrained}"
    path = Path(pretrained)
    if path.is_file():
        chosen = _file_quick_gelu(path, model_name, quick_gelu, arch_default)
        # the activation changes the text tower too: it is part of the text cache's key
        return chosen, f"{model_name}|file-sha256={compute_sha256(path)}|quick_gelu={chosen}"
    tags = open_clip.list_pretrained_tags_by_model(model_name)
    raise ConfigError(
        f"align.pretrained={pretrained!r} is neither a pretrained tag of {model_name!r} "
        f"(known: {tags or 'none'}) nor an existing checkpoint file; use null for random weights"
    )


def _file_quick_gelu(
    path: Path, model_name: str, quick_gelu: bool | None, arch_default: bool
) -> bool:
    sidecar = _sidecar_quick_gelu(path)
    if quick_gelu is not None:
        if sidecar is not None and sidecar != quick_gelu:
            raise ConfigError(
                f"align.quick_gelu={quick_gelu} contradicts {path.parent / SIDECAR_CONFIG} "
                f"(quick_gelu={sidecar}); set it to null or fix the file"
            )
        return quick_gelu
    if sidecar is not None:
        return sidecar
    if arch_default:  # e.g. ViT-L-14-336-quickgelu: the architecture name says it
        return True
    raise ConfigError(
        f"align.pretrained={str(path)!r} is a local weights file that does not say which "
        f"activation {model_name!r} was trained with: set align.quick_gelu: true for OpenAI "
        f"weights (false for weights trained with GELU, e.g. LAION's), or put open_clip's "
        f"{SIDECAR_CONFIG} beside the file"
    )


def create_clip(
    model_name: str, pretrained: str | None, *, seed: int, quick_gelu: bool | None = None
) -> ClipBundle:
    """Build an open_clip CLIP on CPU in float32.

    Args:
        model_name: open_clip architecture name (built-in or from `model_configs/`).
        pretrained: a pretrained tag (`openai`), a local checkpoint file, or None (random weights,
            seeded by `seed` so a rebuild gives identical weights).
        seed: seed of the random initialisation.
        quick_gelu: the activation the weights were trained with; None: as the tag, the
            open_clip_config.json beside a local file, or the architecture says.

    Raises:
        ConfigError: unknown architecture or pretrained value.
        InputError: the weights of a tag are not available offline.
    """
    import open_clip

    register_model_configs()
    model_config = open_clip.get_model_config(model_name)
    if model_config is None:
        raise ConfigError(
            f"align.model_name={model_name!r} is not an open_clip architecture; see "
            "open_clip.list_models() (tiny preset: realign-tiny-vit)"
        )
    quick_gelu, model_key = _resolve_weights(model_name, pretrained, seed, quick_gelu)
    torch.manual_seed(seed)
    try:
        model = open_clip.create_model(
            model_name, pretrained=pretrained, force_quick_gelu=quick_gelu, weights_only=True
        )
    except RuntimeError as exc:
        raise InputError(
            f"could not load weights {pretrained!r} for {model_name!r}: {exc}. Give a checkpoint "
            f"file path, or fetch the weights: {download_hint()}"
        ) from None
    model_config = {**model_config, "quick_gelu": quick_gelu}
    preprocess = dict(model.visual.preprocess_cfg)
    tokenizer = open_clip.get_tokenizer(model_name)
    logger.info(
        "Built CLIP %s (weights: %s, QuickGELU: %s)", model_name, pretrained or "random", quick_gelu
    )
    return ClipBundle(model.float(), tokenizer, model_config, preprocess, model_key)


def create_spec(bundle: ClipBundle, cfg: AlignConfig, provenance: dict[str, Any]) -> DetectorSpec:
    """The detector spec of `bundle`'s image tower with the head and threshold of `cfg`."""
    size = bundle.preprocess["size"]
    side = size if isinstance(size, int) else size[0]
    if not isinstance(size, int) and size[0] != size[1]:
        raise ConfigError(f"align.model_name={cfg.model_name!r}: non-square input {size}")
    return DetectorSpec.model_validate(
        {
            "format_version": FORMAT_VERSION,
            "architecture": cfg.model_name,
            "model_config": {
                "embed_dim": bundle.model_config["embed_dim"],
                "vision_cfg": bundle.model_config["vision_cfg"],
                "quick_gelu": bundle.model_config["quick_gelu"],
            },
            "image_size": side,
            "mean": list(bundle.preprocess["mean"]),
            "std": list(bundle.preprocess["std"]),
            "interpolation": bundle.preprocess["interpolation"],
            "resize_mode": bundle.preprocess["resize_mode"],
            "threshold": cfg.threshold,
            "head": HeadSpec(
                in_dim=bundle.model_config["embed_dim"],
                hidden_dim=cfg.head_hidden_dim,
                normalize_input=cfg.head_normalize_input,
            ),
            "provenance": provenance,
        }
    )
