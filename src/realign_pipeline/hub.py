"""What the model loaders and `realign fetch-models` share about the model hub.

Whether a model name is a local folder or a hub id, whether this shell may download
(`HF_HUB_OFFLINE`, set by scripts/env.sh), and the one-line hint that says how to fetch a
missing model. Kept apart so the loaders (models/vlm.py, align/models.py) and the fetcher
(model_fetch.py) import it, not each other.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["download_hint", "downloads_enabled", "is_local_model"]

_FALSE = ("", "0", "false", "no", "off")


def is_local_model(name_or_path: str | Path) -> bool:
    """True when `name_or_path` names a local folder rather than a hub id."""
    text = str(name_or_path)
    return Path(text).exists() or text.startswith((".", "/", "~")) or text.count("/") > 1


def downloads_enabled() -> bool:
    """False when `HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`) turns hub access off."""
    return all(
        os.environ.get(name, "0").strip().lower() in _FALSE
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def download_hint(params_path: str = "presets/paper.yaml") -> str:
    """How to download the missing models from the shell the user is in."""
    cache = os.environ.get("HF_HOME") or "~/.cache/huggingface"
    if downloads_enabled():
        how = f"`realign fetch-models --params {params_path}`"
    else:
        how = (
            "downloads are off in this shell (HF_HUB_OFFLINE=1, set by scripts/env.sh); run "
            f"`HF_HUB_OFFLINE=0 TRANSFORMERS_OFFLINE=0 realign fetch-models --params "
            f"{params_path}` (or open the shell with `REALIGN_DOWNLOADS=1 source scripts/env.sh`)"
        )
    return f"{how}; models go to the cache under HF_HOME ({cache}), set it to a persistent disk"
