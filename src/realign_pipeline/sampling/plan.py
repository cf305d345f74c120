"""The sampling plan: manifest x questions x seeds x temperatures, cut into batches and shards.

Every generation is keyed by (image_id, question_id, seed, temperature). Prompts (one image, one
question) are ordered by image_id then question order and cut into batches of `batch_size`
prompts; a batch is the unit of work: one generate call per (seed, temperature), one shard file
when it completes. A `--shard i/n` worker takes the batches whose index is i mod n, so every
generate call sees exactly the same prompts whether the plan runs in one process or in n, and
merging the shards gives the same rows as one run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from realign_pipeline.errors import ConfigError
from realign_pipeline.samples import SAMPLE_KEY

__all__ = [
    "KEY_COLUMNS",
    "Batch",
    "Prompt",
    "ShardSpec",
    "WorkUnit",
    "build_batches",
    "make_key",
    "parse_shard",
    "plan_keys",
    "plan_work",
    "select_images",
]

KEY_COLUMNS = SAMPLE_KEY
Key = tuple[str, str, int, float]
_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def make_key(image_id: str, question_id: str, seed: int, temperature: float) -> Key:
    """The normalised key of one generation (temperature as a float, seed as an int)."""
    return (str(image_id), str(question_id), int(seed), float(temperature))


@dataclass(frozen=True)
class ShardSpec:
    """Worker `index` of `count` (0-based): it owns the batches with index % count == index."""

    index: int
    count: int

    @property
    def name(self) -> str:
        """File-name tag of this shard, e.g. `000-of-004`."""
        return f"{self.index:03d}-of-{self.count:03d}"

    def owns(self, batch_index: int) -> bool:
        """Whether batch number `batch_index` of the plan belongs to this shard."""
        return batch_index % self.count == self.index


def parse_shard(text: str) -> ShardSpec:
    """Parse `i/n` (0 <= i < n), e.g. `0/1` for a single worker.

    Raises:
        ConfigError: the text is not `i/n` or i is out of range.
    """
    match = _SHARD.match(text or "")
    if not match:
        raise ConfigError(f"--shard {text!r}: expected I/N with 0 <= I < N, e.g. 0/4")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 0 <= index < count:
        raise ConfigError(
            f"--shard {text!r}: need N >= 1 and 0 <= I < N (got I={index}, N={count})"
        )
    return ShardSpec(index, count)


@dataclass(frozen=True)
class Prompt:
    """One image with one question, plus the manifest fields copied to every output row."""

    image_id: str
    question_id: str
    question: str
    path: str
    label: int
    generator: str


@dataclass(frozen=True)
class Batch:
    """Consecutive prompts of the plan, generated together."""

    index: int
    prompts: tuple[Prompt, ...]


@dataclass(frozen=True)
class WorkUnit:
    """What is still missing for one batch: for each (seed, temperature), the prompts to run."""

    batch: Batch
    groups: tuple[tuple[int, float, tuple[Prompt, ...]], ...]

    @property
    def n_keys(self) -> int:
        """Generations this unit will produce."""
        return sum(len(prompts) for _, _, prompts in self.groups)


def select_images(manifest: pd.DataFrame, max_images: int | None) -> pd.DataFrame:
    """Unique images sorted by image_id, the first `max_images` of them (None = all).

    Sorting by the content hash gives a label-blind, reproducible pick that does not depend on
    the manifest's row order.
    """
    images = manifest.drop_duplicates("image_id").sort_values("image_id", kind="stable")
    if max_images is not None:
        images = images.head(max_images)
    return images.reset_index(drop=True)


def build_batches(
    images: pd.DataFrame, questions: Sequence[tuple[str, str]], batch_size: int
) -> list[Batch]:
    """Cut images x questions (image-major, questions in config order) into batches."""
    prompts = [
        Prompt(
            image_id=str(row.image_id),
            question_id=qid,
            question=text,
            path=str(row.path),
            label=int(row.label),
            generator=str(row.generator),
        )
        for row in images.itertuples(index=False)
        for qid, text in questions
    ]
    return [
        Batch(index=i // batch_size, prompts=tuple(prompts[i : i + batch_size]))
        for i in range(0, len(prompts), batch_size)
    ]


def plan_keys(
    batches: Iterable[Batch], seeds: Sequence[int], temperatures: Sequence[float]
) -> set[Key]:
    """Every key the batches produce over all seeds and temperatures."""
    return {
        make_key(p.image_id, p.question_id, seed, temp)
        for batch in batches
        for p in batch.prompts
        for seed in seeds
        for temp in temperatures
    }


def plan_work(
    batches: Iterable[Batch],
    seeds: Sequence[int],
    temperatures: Sequence[float],
    done: set[Key],
    shard: ShardSpec,
) -> list[WorkUnit]:
    """The units this shard still has to generate: only keys not in `done`.

    After a crash every batch is either complete (its shard file was written) or absent, so a
    rerun repeats exactly the generate calls of an uninterrupted run.
    """
    units = []
    for batch in batches:
        if not shard.owns(batch.index):
            continue
        groups = []
        for seed in seeds:
            for temp in temperatures:
                missing = tuple(
                    p
                    for p in batch.prompts
                    if make_key(p.image_id, p.question_id, seed, temp) not in done
                )
                if missing:
                    groups.append((int(seed), float(temp), missing))
        if groups:
            units.append(WorkUnit(batch=batch, groups=tuple(groups)))
    return units
