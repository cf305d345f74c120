"""Batched detection over image files or bytes with the exported detector (`realign detect`).

Every input yields exactly one record, in input order: `{"path", "p_fake", "label"}` for an image,
`{"path", "error", "detail"}` for one that cannot be read or decoded, so a bad file never stops a
run and is never silently skipped. Pixels go through `realign_pipeline.images` (safe decoding,
mode normalisation) and then the detector's own model transform.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from realign_pipeline.detector.model import Detector
from realign_pipeline.detector.transform import create_model_transform
from realign_pipeline.images import ImageRejected, decode_image, load_image

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".jfif"}
)

Source = Path | bytes


def expand_inputs(inputs: Iterable[str | Path]) -> tuple[list[Path], bool]:
    """Files to score: named files as given, folders walked recursively for image suffixes.

    Returns:
        (paths in a stable order, whether any input was a folder). A named path that does not
        exist is kept, so that it is reported as an error line rather than dropped.
    """
    paths: list[Path] = []
    any_dir = False
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            any_dir = True
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in IMAGE_SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found:
                logger.warning("No image files under %s", path)
            paths.extend(found)
        else:
            paths.append(path)
    return paths, any_dir


def _decode(source: Source) -> Any:
    if isinstance(source, bytes):
        return decode_image(source).image
    return load_image(source)


def label_for(p_fake: float, threshold: float) -> str:
    """'fake' when p_fake is above the detector's threshold, else 'real'."""
    return "fake" if p_fake > threshold else "real"


def _score_batch(
    detector: Detector, transform: Any, names: Sequence[str], sources: Sequence[Source]
) -> list[dict[str, Any]]:
    records: list[dict[str, Any] | None] = []
    tensors: list[torch.Tensor] = []
    for name, source in zip(names, sources, strict=True):
        try:
            tensors.append(transform(_decode(source)))
            records.append(None)
        except ImageRejected as exc:
            records.append({"path": name, "error": exc.reason, "detail": exc.detail})
    if tensors:
        device = next(detector.parameters()).device
        probs = detector.predict_proba(torch.stack(tensors).to(device)).cpu().tolist()
        threshold = detector.spec.threshold
        it = iter(probs)
        for i, name in enumerate(names):
            if records[i] is None:
                p = float(next(it))
                records[i] = {"path": name, "p_fake": p, "label": label_for(p, threshold)}
    return [r for r in records if r is not None]


def detect_sources(
    detector: Detector,
    names: Sequence[str],
    sources: Sequence[Source],
    *,
    batch_size: int = 32,
    progress: bool = False,
) -> Iterator[dict[str, Any]]:
    """Score images given as paths or bytes; one record per input, in input order.

    Args:
        detector: a loaded detector (eval mode).
        names: what each record's `path` field says (the path, or an id for bytes).
        sources: a Path or the raw bytes of each image.
        batch_size: images per forward pass.
        progress: show a tqdm bar over images (on stderr; tqdm hides it when not a terminal).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    transform = create_model_transform(detector.spec)
    bar = tqdm(total=len(sources), unit="img", disable=None if progress else True)
    try:
        for start in range(0, len(sources), batch_size):
            stop = start + batch_size
            yield from _score_batch(detector, transform, names[start:stop], sources[start:stop])
            bar.update(len(sources[start:stop]))
    finally:
        bar.close()


def detect_paths(
    detector: Detector, inputs: Iterable[str | Path], *, batch_size: int = 32
) -> Iterator[dict[str, Any]]:
    """Score files and folders (see `expand_inputs`); progress bar when a folder was given."""
    paths, any_dir = expand_inputs(inputs)
    yield from detect_sources(
        detector, [str(p) for p in paths], paths, batch_size=batch_size, progress=any_dir
    )
