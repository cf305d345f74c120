"""The deployable detector: an open_clip image tower plus a two-layer MLP head.

Only torch, open_clip and safetensors are needed to load it: the tower is rebuilt from the
model config stored in the spec (no registry lookup, no hub) and its weights are read from
`detector.safetensors`, which is refused unless it really is a safetensors file (a pickle payload
could run code on load).

Usage:
    detector = load_detector("artifacts/detector")
    p_fake = detector.predict_proba(pixels)          # pixels: FloatTensor[B, 3, H, W]
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from realign_pipeline.atomic import atomic_dir, atomic_path, atomic_write_json
from realign_pipeline.detector.spec import (
    SPEC_FILE,
    WEIGHTS_FILE,
    DetectorSpec,
    HeadSpec,
    read_spec,
)
from realign_pipeline.errors import InputError, MissingInputError

logger = logging.getLogger(__name__)

_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


class DetectorHead(nn.Module):
    """Two-layer MLP on the image embedding: Linear -> GELU -> Linear(1), one logit per image."""

    def __init__(self, spec: HeadSpec) -> None:
        super().__init__()
        self.normalize_input = spec.normalize_input
        self.fc1 = nn.Linear(spec.in_dim, spec.hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(spec.hidden_dim, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Logits[B] of 'fake' from image embeddings[B, in_dim]."""
        if self.normalize_input:
            features = nn.functional.normalize(features, dim=-1)
        return self.fc2(self.act(self.fc1(features))).squeeze(-1)


class Detector(nn.Module):
    """Image tower + head. `forward(pixels) -> logits[B]`; `predict_proba(pixels) -> p_fake[B]`."""

    def __init__(self, visual: nn.Module, head: DetectorHead, spec: DetectorSpec) -> None:
        super().__init__()
        self.visual = visual
        self.head = head
        self.spec = spec

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Fake logits[B] for preprocessed pixels[B, 3, H, W]."""
        return self.head(self.visual(pixels))

    @torch.inference_mode()
    def predict_proba(self, pixels: torch.Tensor) -> torch.Tensor:
        """p_fake[B] = sigmoid(logit), computed without gradients."""
        return torch.sigmoid(self.forward(pixels).float())


def build_image_tower(model_config: dict[str, Any]) -> nn.Module:
    """An open_clip image tower (random weights) from the `embed_dim`/`vision_cfg` config.

    open_clip builds a whole CLIP (both towers) from a name; the detector has no text tower, so it
    uses open_clip's own vision-tower builder, the one `CLIP.__init__` calls.
    """
    from open_clip.model import _build_vision_tower

    try:
        return _build_vision_tower(
            embed_dim=model_config["embed_dim"],
            vision_cfg=dict(model_config["vision_cfg"]),
            quick_gelu=bool(model_config.get("quick_gelu", False)),
        )
    except (KeyError, TypeError) as exc:
        raise InputError(f"detector model_config cannot build an image tower: {exc}") from None


def create_detector(spec: DetectorSpec) -> Detector:
    """A detector with random weights shaped by `spec` (load weights into it next)."""
    return Detector(build_image_tower(spec.model_config_dict), DetectorHead(spec.head), spec)


def _check_safetensors_file(path: Path) -> None:
    """Refuse anything but a safetensors file (8-byte header length, then a JSON object)."""
    with open(path, "rb") as handle:
        start = handle.read(9)
    if start[:2] == b"PK" or start[:1] == b"\x80":
        raise InputError(
            f"{path} holds a pickle payload (torch.save format); refused because loading pickle "
            "can run code. Export the detector with `realign align` (safetensors only)."
        )
    if len(start) < 9 or start[8:9] != b"{":
        raise InputError(f"{path} is not a safetensors file; re-export it with `realign align`")


def read_weights(detector_dir: Path) -> dict[str, torch.Tensor]:
    """Read the safetensors weights of a detector folder, refusing pickle payloads."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = detector_dir / WEIGHTS_FILE
    if not path.is_file():
        pickles = sorted(p.name for p in detector_dir.glob("*") if p.suffix in _PICKLE_SUFFIXES)
        hint = f"; found {pickles}, which are pickle formats and refused" if pickles else ""
        raise MissingInputError(f"detector weights not found: {path}{hint}")
    _check_safetensors_file(path)
    try:
        return load_file(str(path), device="cpu")
    except SafetensorError as exc:
        raise InputError(f"{path} is not a valid safetensors file ({exc})") from None


def load_detector(path: str | Path, device: str | torch.device = "cpu") -> Detector:
    """Load an exported detector folder (`detector.json` + `detector.safetensors`) in eval mode.

    Raises:
        MissingInputError: the folder, spec or weights file is missing.
        InputError: the spec is invalid, the weights are not safetensors (pickle is refused) or
            do not match the architecture.
    """
    path = Path(path)
    if not path.is_dir():
        raise MissingInputError(f"detector folder not found: {path} (run `realign align` first)")
    spec = read_spec(path / SPEC_FILE)
    state = read_weights(path)
    detector = create_detector(spec)
    try:
        result = detector.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise InputError(
            f"detector weights in {path} do not match the spec's architecture "
            f"{spec.architecture!r}: {str(exc).splitlines()[-1].strip()}"
        ) from None
    if result.missing_keys or result.unexpected_keys:
        raise InputError(
            f"detector weights in {path} do not match the spec's architecture "
            f"{spec.architecture!r}: missing {result.missing_keys[:5]}, "
            f"unexpected {result.unexpected_keys[:5]}"
        )
    logger.info("Loaded detector %s (%s) from %s", spec.architecture, spec.image_size, path)
    return detector.to(device).eval()


def save_detector(detector: Detector, out_dir: str | Path) -> Path:
    """Write `detector.safetensors` + `detector.json` as one atomic folder swap."""
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    state = detector.state_dict()
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}
    with atomic_dir(out_dir) as tmp:
        with atomic_path(tmp / WEIGHTS_FILE) as weights:
            save_file(tensors, str(weights), metadata={"format": "pt"})
        atomic_write_json(tmp / SPEC_FILE, detector.spec.to_json_dict())
    logger.info("Saved detector (%d tensors) to %s", len(tensors), out_dir)
    return out_dir
