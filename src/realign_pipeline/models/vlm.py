"""Load a vision-language model and its processor from a hub id or a local folder.

The same call loads the tiny offline model (`artifacts/tiny_models/vlm`) and
`Qwen/Qwen2.5-VL-7B-Instruct`: `AutoProcessor` plus the image-text-to-text model class named by
the checkpoint's config. With `HF_HUB_OFFLINE=1` (set by scripts/env.sh and the tests) a hub id
is only looked up in the local cache; nothing reaches the network.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from realign_pipeline.errors import ConfigError, InputError, MissingInputError
from realign_pipeline.hub import download_hint, downloads_enabled, is_local_model

__all__ = ["DTYPES", "load_processor", "load_vlm", "resolve_dtype"]

logger = logging.getLogger(__name__)

DTYPES = ("float32", "bfloat16", "float16")


def resolve_dtype(name: str) -> Any:
    """The torch dtype for `name` (one of `DTYPES`).

    Raises:
        ConfigError: `name` is not one of `DTYPES`.
    """
    import torch

    if name not in DTYPES:
        raise ConfigError(f"dtype {name!r} is not supported; use one of {', '.join(DTYPES)}")
    return getattr(torch, name)


def _check_source(name_or_path: str | Path) -> str:
    text = str(name_or_path)
    if is_local_model(text):
        path = Path(text).expanduser()
        if not path.is_dir():
            raise MissingInputError(
                f"model folder not found: {path} (build the tiny one with `realign tiny-models "
                f"--out {path}` or pass a hub id such as Qwen/Qwen2.5-VL-7B-Instruct)"
            )
        if not (path / "config.json").is_file():
            raise InputError(f"model folder {path} has no config.json; is it a model snapshot?")
        return str(path)
    return text


def _offline_hint(name: str, exc: Exception) -> InputError:
    where = "the hub" if downloads_enabled() else "the local hub cache (HF_HUB_OFFLINE=1)"
    return InputError(
        f"cannot load model {name!r}: no local folder of that name, and not found in {where} "
        f"({exc}). Pass an existing model folder (the tiny preset builds one with `realign "
        f"tiny-models`), or fetch the hub model: {download_hint()}"
    )


def load_processor(
    name_or_path: str | Path, *, min_pixels: int | None = None, max_pixels: int | None = None
) -> Any:
    """Load the processor; `min_pixels`/`max_pixels` override the image resolution bounds.

    Raises:
        MissingInputError / InputError: as for `load_vlm`.
    """
    from transformers import AutoProcessor

    source = _check_source(name_or_path)
    try:
        processor = AutoProcessor.from_pretrained(source)
        if min_pixels or max_pixels:
            # the bounds go in as the processor's `size`: given as min_pixels/max_pixels they
            # would be handed to every processor call, which transformers deprecates with a
            # FutureWarning per call (34 of them in one tiny run)
            size = processor.image_processor.size
            bounds = {
                "shortest_edge": min_pixels or size["shortest_edge"],
                "longest_edge": max_pixels or size["longest_edge"],
            }
            processor = AutoProcessor.from_pretrained(source, size=bounds)
    except OSError as exc:
        raise _offline_hint(source, exc) from None
    _forget_load_options(processor)
    return processor


_LOAD_OPTIONS = ("local_files_only", "is_local")  # how it was loaded, not what it is


def _forget_load_options(processor: Any) -> None:
    """Drop loader options transformers keeps in `init_kwargs`: `save_pretrained` would write
    them to tokenizer_config.json (`local_files_only` follows HF_HUB_OFFLINE), so a model saved
    in two environments would differ in bytes."""
    for part in (processor, getattr(processor, "tokenizer", None)):
        init_kwargs = getattr(part, "init_kwargs", None)
        if isinstance(init_kwargs, dict):
            for key in _LOAD_OPTIONS:
                init_kwargs.pop(key, None)


def load_vlm(
    name_or_path: str | Path,
    *,
    dtype: str = "float32",
    device: str = "cpu",
    min_pixels: int | None = None,
    max_pixels: int | None = None,
) -> tuple[Any, Any]:
    """Load a VLM for generation or training, and its processor.

    Args:
        name_or_path: Hub id (e.g. `Qwen/Qwen2.5-VL-7B-Instruct`) or a local snapshot folder.
        dtype: Weight dtype, one of `DTYPES`.
        device: Torch device to move the model to.
        min_pixels: Optional lower bound on image pixels (overrides the processor's).
        max_pixels: Optional upper bound on image pixels (image tokens drive memory).

    Returns:
        `(model, processor)`; the model is in eval mode.

    Raises:
        MissingInputError: a local folder does not exist.
        InputError: the folder is not a model snapshot, or a hub id is not in the cache offline.
        ConfigError: unknown dtype.
    """
    from transformers import AutoModelForImageTextToText

    torch_dtype = resolve_dtype(dtype)
    source = _check_source(name_or_path)
    processor = load_processor(source, min_pixels=min_pixels, max_pixels=max_pixels)
    try:
        model = AutoModelForImageTextToText.from_pretrained(source, dtype=torch_dtype)
    except OSError as exc:
        raise _offline_hint(source, exc) from None
    model = model.to(device).eval()
    logger.info("loaded %s (%s) on %s as %s", source, type(model).__name__, device, dtype)
    return model, processor
