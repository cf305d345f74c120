"""Typed configuration: one frozen object parsed from a params file (params.yaml or a preset).

Each top-level section of params.yaml has its own model in a module of this package named after
the stage that owns it, so a stage imports only its section. `load_params` applies
`--set key.sub=value` overrides before validation and turns pydantic's errors into one message
per bad key that names the key, the value seen and what is allowed.

Usage:
    params = load_params("params.yaml", ["align.learning_rate=3e-4"])
    params.align.learning_rate
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from realign_pipeline.config.align import AlignConfig
from realign_pipeline.config.base import Section
from realign_pipeline.config.demo_data import DemoDataConfig
from realign_pipeline.config.evaluate import AblateConfig, EvaluateConfig
from realign_pipeline.config.grpo import GRPOConfig
from realign_pipeline.config.ingest import IngestConfig
from realign_pipeline.config.pipeline import PipelineConfig
from realign_pipeline.config.presets import read_preset
from realign_pipeline.config.review import ReviewConfig
from realign_pipeline.config.sample import CaptionConfig, SampleConfig
from realign_pipeline.config.tiny_models import TinyModelsConfig
from realign_pipeline.config.tracking import TrackingConfig
from realign_pipeline.errors import ConfigError

__all__ = ["ConfigError", "Params", "apply_overrides", "load_params", "parse_override"]


class Params(Section):
    """The whole params file: a preset with its `extends:` base merged (params.yaml is `tiny`)."""

    preset: str = Field(
        description="Preset name recorded as an MLflow tag: tiny, paper, or a paper protocol "
        "(paper-aigcdetect, paper-holmes; see config/protocols.py)."
    )
    seed: int = Field(ge=0, description="Global seed shared by every stage.")
    tracking: TrackingConfig
    pipeline: PipelineConfig
    demo_data: DemoDataConfig
    ingest: IngestConfig
    tiny_models: TinyModelsConfig
    grpo: GRPOConfig
    sample: SampleConfig
    caption: CaptionConfig
    review: ReviewConfig
    align: AlignConfig
    evaluate: EvaluateConfig
    ablate: AblateConfig


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split `key.sub=value` into its key path and a YAML 1.2 value (`1e-4` is a number, as
    TRL and DVC read it; PyYAML's YAML 1.1 would make it a string).

    Raises:
        ConfigError: when there is no `=` or the key is empty.
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(
            f"override {text!r}: expected KEY.SUB=VALUE, e.g. align.learning_rate=1e-4"
        )
    try:
        value = YAML(typ="safe", pure=True).load(raw) if raw.strip() else ""
    except YAMLError as exc:
        raise ConfigError(f"override {text!r}: value is not valid YAML ({exc})") from exc
    return key.split("."), value


def _apply_override(data: dict[str, Any], keys: list[str], value: Any, text: str) -> None:
    node: Any = data
    for depth, key in enumerate(keys[:-1]):
        if isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
            continue
        if not isinstance(node, dict) or key not in node:
            where = ".".join(keys[: depth + 1])
            allowed = ", ".join(sorted(node)) if isinstance(node, dict) else "(not a section)"
            raise ConfigError(f"override {text!r}: unknown key '{where}'; allowed: {allowed}")
        node = node[key]
    last = keys[-1]
    if isinstance(node, list) and last.isdigit() and int(last) < len(node):
        node[int(last)] = value
    elif isinstance(node, dict):
        node[last] = value  # unknown leaf keys are reported by validation with the allowed set
    else:
        raise ConfigError(f"override {text!r}: '{'.'.join(keys[:-1])}' is not a section")


def _allowed_keys(model: type[Section], loc: tuple[Any, ...]) -> list[str]:
    """Field names of the section that `loc` (an error location) points into."""
    current: Any = model
    for part in loc[:-1]:
        fields = getattr(current, "model_fields", None)
        if fields is None or part not in fields:
            return []
        annotation = fields[part].annotation
        current = annotation if isinstance(annotation, type) else None
    return sorted(getattr(current, "model_fields", {}) or [])


def _format_errors(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = ".".join(str(p) for p in loc) or "(root)"
        if err["type"] == "extra_forbidden":
            allowed = ", ".join(_allowed_keys(Params, loc)) or "see params.yaml"
            lines.append(f"{key}: unknown key; allowed keys here: {allowed}")
        elif err["type"] == "missing":
            lines.append(f"{key}: required key is missing")
        elif isinstance(err.get("input"), dict):  # a section-level check: the message says it
            lines.append(f"{key}: {err['msg']}")
        else:
            seen = re.sub(r"//[^/@\s]+@", "//***@", repr(err.get("input")))  # no credentials
            lines.append(f"{key}: {err['msg']} (got {seen})")
    return f"invalid params in {source}:\n  " + "\n  ".join(lines)


def validate_params(data: Mapping[str, Any], source: str = "params") -> Params:
    """Validate a parsed params mapping; raise ConfigError naming every bad key."""
    try:
        return Params.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source)) from None


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> None:
    """Apply `key.sub=value` overrides to a parsed params mapping in place.

    Raises:
        ConfigError: a malformed override or an unknown section (naming the allowed keys).
    """
    for text in overrides:
        keys, value = parse_override(text)
        _apply_override(data, keys, value, text)


def load_params(path: str | Path = "params.yaml", overrides: Iterable[str] = ()) -> Params:
    """Load a params file or preset (its `extends:` chain merged), apply `key.sub=value`
    overrides, and validate it.

    Raises:
        MissingInputError: the file does not exist.
        ConfigError: the YAML is malformed or a value is invalid (the message names the key).
    """
    data = read_preset(Path(path))
    apply_overrides(data, overrides)
    return validate_params(data, str(path))
