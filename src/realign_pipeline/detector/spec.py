"""The detector spec: everything needed to rebuild and feed the deployable detector.

`detector.json` beside `detector.safetensors` holds a `DetectorSpec`. It carries the full open_clip
model config of the image tower (so loading needs no registry and no hub), the preprocessing the
model was trained with, the decision threshold, the head's dimensions and provenance (what it was
trained from). Loading a spec with unknown keys or a newer format version fails with a clear
message rather than building the wrong network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from realign_pipeline.errors import InputError, MissingInputError

SPEC_FILE = "detector.json"
WEIGHTS_FILE = "detector.safetensors"
FORMAT_VERSION = 1


class HeadSpec(BaseModel):
    """Dimensions of the two-layer MLP head (Linear, GELU, Linear -> one logit)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    in_dim: int = Field(gt=0, description="Image embedding size (open_clip embed_dim).")
    hidden_dim: int = Field(gt=0, description="Hidden width of the head.")
    normalize_input: bool = Field(
        description="Whether the image embedding is L2-normalised before the head (as for CLIP's "
        "contrastive similarity)."
    )


class DetectorSpec(BaseModel):
    """Architecture, preprocessing and decision rule of an exported detector."""

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    format_version: int = Field(description="Spec format; this code reads version 1.")
    architecture: str = Field(description="open_clip model name the tower was built from.")
    model_config_dict: dict[str, Any] = Field(
        alias="model_config",
        description="Full open_clip model config (embed_dim, vision_cfg, quick_gelu, ...).",
    )
    image_size: int = Field(gt=0, description="Square input side in pixels.")
    mean: tuple[float, float, float] = Field(description="Per-channel normalisation mean.")
    std: tuple[float, float, float] = Field(description="Per-channel normalisation std.")
    interpolation: Literal["bicubic", "bilinear", "nearest"] = Field(
        description="Resize interpolation of the model transform."
    )
    resize_mode: Literal["shortest", "longest", "squash"] = Field(
        description="open_clip resize mode of the model transform (shortest: resize, centre crop)."
    )
    threshold: float = Field(gt=0, lt=1, description="p_fake above this means 'fake'.")
    head: HeadSpec
    provenance: dict[str, Any] = Field(
        description="Where the weights came from: pretrained tag, training params, git commit."
    )

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON form written to `detector.json` (field aliases, e.g. `model_config`)."""
        return self.model_dump(mode="json", by_alias=True)


def read_spec(path: str | Path) -> DetectorSpec:
    """Read and validate `detector.json` (a file, or the detector folder holding it).

    Raises:
        MissingInputError: the file does not exist.
        InputError: it is not JSON, has an unknown format version or invalid fields.
    """
    path = Path(path)
    if path.is_dir():
        path = path / SPEC_FILE
    if not path.is_file():
        raise MissingInputError(f"detector spec not found: {path} (run `realign align` first)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"detector spec {path} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"detector spec {path}: expected a JSON object")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise InputError(
            f"detector spec {path}: format_version {version!r} is not supported "
            f"(this code reads {FORMAT_VERSION}); re-export with this version of realign"
        )
    try:
        return DetectorSpec.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise InputError(f"detector spec {path} is invalid: {problems}") from None
