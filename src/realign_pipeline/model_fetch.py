"""Download, on purpose, the hub models a preset names, into the persistent model cache.

Nothing else in the pipeline downloads: scripts/env.sh sets `HF_HUB_OFFLINE=1`, and a model
that is not in the cache stops its stage with `download_hint()`. `realign fetch-models` (this
module) lists what the preset needs and how big it is (`snapshot_download`'s dry run when
downloads are on, else the table below), then fetches it with the libraries' own download functions
(`huggingface_hub.snapshot_download` for the VLMs, `open_clip.download_pretrained` for CLIP), so
what lands in the cache is exactly what `from_pretrained` / `open_clip.create_model` load later.

The cache: both libraries use `$HF_HOME/hub` (default `~/.cache/huggingface/hub`). Point
`HF_HOME` at a persistent volume (the Kubernetes jobs mount one) so models download once per
cluster, not once per job.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace

from huggingface_hub import constants, snapshot_download

from realign_pipeline.errors import ConfigError, InputError
from realign_pipeline.hub import download_hint, downloads_enabled, is_local_model
from realign_pipeline.results import StageResult

__all__ = ["KNOWN_SIZES", "ModelDownload", "fetch_models", "plan_downloads"]

logger = logging.getLogger(__name__)

# Sizes of the paper preset's downloads, for offline listings (bytes; the hub's figures when
# written: Qwen2.5-VL-7B-Instruct = 5 bf16 safetensors shards + tokenizer and configs; the
# ViT-L-14-336 `openai` weights as open_clip fetches them, fp32 safetensors).
KNOWN_SIZES = {
    "Qwen/Qwen2.5-VL-7B-Instruct": 16_600_000_000,
    "Qwen/Qwen2.5-VL-3B-Instruct": 7_500_000_000,
    "timm/vit_large_patch14_clip_336.openai": 1_710_000_000,
    "timm/vit_large_patch14_clip_224.openai": 1_710_000_000,
}

_OPEN_CLIP_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


@dataclass(frozen=True)
class ModelDownload:
    """One model a preset names on the hub, and where the params name it."""

    kind: str  # "vlm" (a transformers snapshot) or "open_clip" (one pretrained weights file)
    name: str  # hub repo id, or open_clip `architecture/tag`
    repo_id: str
    used_by: tuple[str, ...]
    size_bytes: int | None = None
    size_source: str = "unknown"  # "hub" (file metadata) | "table" (KNOWN_SIZES) | "unknown"
    cached: bool = False

    def describe(self) -> str:
        """One line: name, size and its source, whether cached, and which params use it."""
        size = "size unknown" if self.size_bytes is None else f"{self.size_bytes / 1e9:.2f} GB"
        state = "cached" if self.cached else "to download"
        users = ", ".join(self.used_by)
        return f"{self.name} ({size}, from {self.size_source}; {state}) <- {users}"


def _is_local(name: str) -> bool:
    return is_local_model(name) or name.endswith((".pt", ".bin", ".safetensors"))


def plan_downloads(
    vlms: Iterable[tuple[str, str]], clips: Iterable[tuple[str, str, str | None]]
) -> list[ModelDownload]:
    """The hub downloads behind the given model references (local folders and files skipped).

    Args:
        vlms: `(param key, hub id or folder)`, e.g. `("grpo.model", "Qwen/...")`.
        clips: `(param key, open_clip architecture, pretrained tag / file / None)`.

    Raises:
        ConfigError: an open_clip tag that open_clip does not know for the architecture.
    """
    found: dict[str, ModelDownload] = {}
    wanted = [("vlm", key, name, name) for key, name in vlms if not _is_local(name)]
    for key, arch, tag in clips:
        if tag is None or _is_local(tag):
            continue
        import open_clip

        cfg = open_clip.get_pretrained_cfg(arch, tag)
        if not cfg.get("hf_hub"):
            raise ConfigError(
                f"{key}: open_clip has no hub weights for {arch!r} tag {tag!r}; tags: "
                f"{', '.join(open_clip.list_pretrained_tags_by_model(arch)) or 'none'}"
            )
        wanted.append(("open_clip", key, f"{arch}/{tag}", cfg["hf_hub"].strip("/")))
    for kind, key, name, repo in wanted:
        used_by = (*found[name].used_by, key) if name in found else (key,)
        found[name] = ModelDownload(kind, name, repo, used_by)
    return [_with_metadata(item) for item in found.values()]


def _with_metadata(item: ModelDownload) -> ModelDownload:
    """Size and cache state from the hub's dry run when downloads are on, else the table."""
    # open_clip fetches one weights file: the first of `_OPEN_CLIP_FILES` that the repo has
    patterns = list(_OPEN_CLIP_FILES) if item.kind == "open_clip" else None
    size, source, files = KNOWN_SIZES.get(item.repo_id), "table", []
    if downloads_enabled():
        try:
            files = snapshot_download(item.repo_id, allow_patterns=patterns, dry_run=True)
        except OSError as exc:  # hub errors (HTTP, connection) are OSErrors
            logger.warning("no hub metadata for %s (%s); using the table", item.repo_id, exc)
    if patterns:
        files = [f for name in patterns for f in files if f.filename == name][:1]
    if files:
        size, source = sum(f.file_size or 0 for f in files), "hub"
    return replace(
        item,
        size_bytes=size,
        size_source="unknown" if size is None else source,
        cached=all(f.is_cached for f in files) if files else _is_cached(item.repo_id, patterns),
    )


def _is_cached(repo_id: str, patterns: list[str] | None) -> bool:
    try:
        snapshot_download(repo_id, local_files_only=True, allow_patterns=patterns)
    except OSError:  # LocalEntryNotFoundError: not (all) in the cache
        return False
    return True


def fetch_models(
    plan: list[ModelDownload], *, dry_run: bool = False, params_path: str = "presets/paper.yaml"
) -> StageResult:
    """Download every planned model not yet in the cache (nothing when `dry_run`).

    Raises:
        InputError: downloads are turned off in this environment (the message says how to
            turn them on), or a download failed.
    """
    for item in plan:
        logger.info("%s", item.describe())
    if not plan:
        logger.info("nothing to download: the params name only local models or random weights")
    missing = [item for item in plan if not item.cached]
    if missing and not dry_run and not downloads_enabled():
        raise InputError(f"{len(missing)} model(s) to download, but {download_hint(params_path)}")
    fetched = {} if dry_run else {item.name: _download(item) for item in missing}
    return StageResult(
        stage="fetch_models",
        outputs=fetched,
        counts={"models": len(plan), "to_download": len(missing), "fetched": len(fetched)},
        metrics={"download_gb": round(sum(m.size_bytes or 0 for m in missing) / 1e9, 2)},
        extra={
            "dry_run": dry_run,
            "cache": constants.HF_HUB_CACHE,
            "models": [{**asdict(m), "used_by": list(m.used_by)} for m in plan],
        },
    )


def _download(item: ModelDownload) -> str:
    logger.info("downloading %s into the hub cache", item.name)
    try:
        if item.kind == "open_clip":
            import open_clip

            arch, tag = item.name.split("/", 1)
            return str(open_clip.download_pretrained(open_clip.get_pretrained_cfg(arch, tag)))
        return str(snapshot_download(item.repo_id))
    except (OSError, RuntimeError, ValueError) as exc:
        raise InputError(f"downloading {item.name} ({item.repo_id}) failed: {exc}") from None
