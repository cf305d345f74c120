"""Confinement of paths read from manifests and review exports to their data root."""

from __future__ import annotations

from pathlib import Path

from realign_pipeline.errors import InputError


class PathEscapeError(InputError):
    """A path from a manifest or an export resolves outside its root."""


def resolve_within(root: str | Path, relative: str | Path) -> Path:
    """Resolve `relative` under `root` (following symlinks) and refuse anything outside it.

    Raises:
        PathEscapeError: the resolved path is not inside the resolved root (`..`, an absolute
            path, or a symlink pointing elsewhere).
    """
    root_resolved = Path(root).resolve()
    candidate = (root_resolved / relative).resolve()
    if not candidate.is_relative_to(root_resolved):
        raise PathEscapeError(f"path {str(relative)!r} resolves outside its root {str(root)!r}")
    return candidate


def is_within(root: str | Path, relative: str | Path) -> bool:
    """True when `relative` resolves inside `root` (see `resolve_within`)."""
    try:
        resolve_within(root, relative)
    except PathEscapeError:
        return False
    return True
