"""Presets as overlays: one base and small files that say only what differs from it.

`presets/paper.yaml` is the paper's complete configuration. Every other preset starts with
`extends: paper.yaml` (a path relative to the preset) and holds only its own values; a chain of
`extends` is followed to the end. Mappings merge key by key; scalars and lists replace the base's
value whole. The merge runs on ruamel.yaml's round-trip tree, so a rendered params file keeps the
comments of both files (an overlay's comment on a key wins; a replaced value drops the base's).

`params.yaml` is the tiny preset rendered (`realign params render --preset tiny -o params.yaml`;
a test checks it is up to date): DVC reads it, and every stage runs from it.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from realign_pipeline.errors import ConfigError, MissingInputError

__all__ = ["EXTENDS", "list_presets", "read_preset", "render_params"]

EXTENDS = "extends"
PRESETS_DIR = "presets"


def list_presets(repo_root: Path) -> list[str]:
    """Names of the preset files under `repo_root/presets`, sorted."""
    return sorted(p.stem for p in (Path(repo_root) / PRESETS_DIR).glob("*.yaml"))


def _round_trip() -> YAML:
    rt = YAML()
    rt.width = 4096  # keep long lines (flow mappings) as written
    rt.preserve_quotes = True
    rt.indent(mapping=2, sequence=4, offset=2)
    rt.representer.add_representer(  # `null`, as the files write it, not an empty value
        type(None), lambda rep, _: rep.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    return rt


def _safe_load(text: str) -> Any:
    return yaml.safe_load(text)


def _merge_comment(base: Any, overlay: Any, key: Any, replaced: bool) -> None:
    """Carry `overlay`'s comment on `key` over to `base` (round-trip trees only); a replaced
    value without a comment of its own drops the base's, which described the base's value."""
    if not hasattr(base, "ca"):
        return
    if key in overlay.ca.items:
        base.ca.items[key] = overlay.ca.items[key]
    elif replaced:
        base.ca.items.pop(key, None)


def merge(base: dict, overlay: dict) -> dict:
    """Merge `overlay` into `base` in place (non-empty mappings recurse; the rest
    replaces); return it."""
    for key, value in overlay.items():
        if key == EXTENDS:
            continue
        # an empty mapping clears the base's (e.g. no stage deployments)
        nested = bool(value) and isinstance(value, dict) and isinstance(base.get(key), dict)
        if nested:
            merge(base[key], value)
        else:
            base[key] = value
        _merge_comment(base, overlay, key, replaced=not nested)
    return base


def read_preset(path: Path, load: Callable[[str], Any] = _safe_load, _seen: tuple = ()) -> dict:
    """The params mapping of the preset at `path`, its `extends:` chain merged in.

    Args:
        load: Parses YAML text (default: plain PyYAML; `_round_trip().load` keeps comments).

    Raises:
        MissingInputError: the file or a file it extends does not exist.
        ConfigError: malformed YAML, a top level that is not a mapping, or an `extends` cycle.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"params file not found: {path} (pass --params PATH)")
    if path.resolve() in _seen:
        raise ConfigError(f"{path}: `{EXTENDS}` cycle through {[str(p) for p in _seen]}")
    try:
        data = load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, YAMLError) as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    parent = data.get(EXTENDS)
    if parent is None:
        return data
    base = read_preset(path.parent / str(parent), load, (*_seen, path.resolve()))
    if hasattr(base, "ca"):
        base.ca.comment = data.ca.comment  # the overlay's header describes the result
    return merge(base, data)


def render_params(repo_root: Path, preset: str, overrides: Iterable[str] = ()) -> str:
    """The complete params file of `presets/<preset>.yaml` with `--set` overrides, comments kept.

    The text is validated before it is returned, so what is written is what loads.

    Raises:
        ConfigError: unknown preset (the message lists the known ones), or an invalid value or
            override (the message names the key and what is allowed).
    """
    from realign_pipeline.config import apply_overrides, validate_params

    overrides = list(overrides)
    source = Path(repo_root) / PRESETS_DIR / f"{preset}.yaml"
    if not source.is_file():
        known = ", ".join(list_presets(repo_root))
        raise ConfigError(f"unknown preset {preset!r}; known presets: {known}")
    rt = _round_trip()
    data = read_preset(source, rt.load)
    apply_overrides(data, overrides)
    out = io.StringIO()
    sets = "".join(f" --set {o}" for o in overrides)  # flows.workspace reads them back
    out.write(
        f"# Rendered from {PRESETS_DIR}/{preset}.yaml by `realign params render --preset {preset}"
        f"{sets}`:\n# edit the preset files, not this one, and render again.\n"
    )
    rt.dump(data, out)
    text = out.getvalue()
    validate_params(_safe_load(text), f"{PRESETS_DIR}/{preset}.yaml")
    return text
