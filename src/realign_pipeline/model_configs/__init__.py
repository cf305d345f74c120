"""open_clip architecture configs shipped with the project (the tiny CPU preset's CLIP).

Each `<name>.json` in this folder is an open_clip model config (same schema as open_clip's own
`model_configs/`). `register_model_configs()` adds the folder to open_clip's registry, after which
`open_clip.create_model("realign-tiny-vit")` works like any built-in name, fully offline.
"""

from __future__ import annotations

from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parent
TINY_MODEL_NAME = "realign-tiny-vit"


def list_model_configs() -> list[str]:
    """Names of the architectures defined in this folder."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


def register_model_configs() -> None:
    """Add this folder to open_clip's model-config registry (a no-op once they are known)."""
    import open_clip

    known = set(open_clip.list_models())
    if all(name in known for name in list_model_configs()):
        return
    open_clip.add_model_config(CONFIG_DIR)
