"""Plan expansion, batching and shard slices."""

from __future__ import annotations

import pandas as pd
import pytest

from realign_pipeline.errors import ConfigError
from realign_pipeline.sampling.plan import (
    ShardSpec,
    build_batches,
    make_key,
    parse_shard,
    plan_keys,
    plan_work,
    select_images,
)

QUESTIONS = [("q0", "first?"), ("q1", "second?"), ("q2", "third?")]


def _images(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "image_id": [f"{i:02x}" for i in range(n)][::-1],  # manifest order != id order
            "path": [f"img{i}.png" for i in range(n)][::-1],
            "label": [i % 2 for i in range(n)][::-1],
            "generator": ["g"] * n,
        }
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0/1", ShardSpec(0, 1)),  # the whole plan
        ("3/4", ShardSpec(3, 4)),  # last of four
        (" 1 / 2 ", ShardSpec(1, 2)),  # spaces are fine
    ],
)
def test_parse_shard_accepts_i_of_n(text: str, expected: ShardSpec) -> None:
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["4/4", "1/0", "-1/2", "a/b", "2", ""])
def test_parse_shard_rejects_out_of_range_or_malformed(text: str) -> None:
    with pytest.raises(ConfigError, match="--shard"):
        parse_shard(text)


def test_select_images_sorts_by_id_and_caps_count() -> None:
    images = select_images(_images(5), max_images=3)
    assert list(images["image_id"]) == ["00", "01", "02"]
    assert len(select_images(_images(5), max_images=None)) == 5


def test_batches_are_image_major_and_cut_at_batch_size() -> None:
    batches = build_batches(select_images(_images(3), None), QUESTIONS, batch_size=4)
    assert [len(b.prompts) for b in batches] == [4, 4, 1]
    first = [(p.image_id, p.question_id) for p in batches[0].prompts]
    assert first == [("00", "q0"), ("00", "q1"), ("00", "q2"), ("01", "q0")]
    assert [b.index for b in batches] == [0, 1, 2]


def test_plan_keys_is_images_x_questions_x_seeds_x_temperatures() -> None:
    batches = build_batches(select_images(_images(4), None), QUESTIONS, batch_size=5)
    keys = plan_keys(batches, seeds=[0, 1], temperatures=[0.7, 1.0])
    assert len(keys) == 4 * 3 * 2 * 2
    assert make_key("00", "q1", 1, 0.7) in keys


def test_shards_partition_the_batches() -> None:
    batches = build_batches(select_images(_images(7), None), QUESTIONS, batch_size=2)
    seen: list[int] = []
    for i in range(3):
        units = plan_work(batches, [0], [1.0], set(), ShardSpec(i, 3))
        seen.extend(u.batch.index for u in units)
    assert sorted(seen) == list(range(len(batches)))  # every batch once, no overlap


def test_plan_work_keeps_only_missing_keys_grouped_by_seed_and_temperature() -> None:
    batches = build_batches(select_images(_images(2), None), QUESTIONS, batch_size=6)
    done = {make_key("00", "q0", 0, 1.0), make_key("01", "q2", 0, 1.0)}
    done |= {make_key(img, q, 1, 1.0) for img in ("00", "01") for q, _ in QUESTIONS}
    units = plan_work(batches, [0, 1], [1.0], done, ShardSpec(0, 1))
    assert len(units) == 1
    (seed, temp, prompts), *rest = units[0].groups
    assert rest == []  # seed 1 is complete: no call for it
    assert (seed, temp) == (0, 1.0)
    assert [(p.image_id, p.question_id) for p in prompts] == [
        ("00", "q1"),
        ("00", "q2"),
        ("01", "q0"),
        ("01", "q1"),
    ]
    assert units[0].n_keys == 4


def test_plan_work_is_empty_when_everything_is_done() -> None:
    batches = build_batches(select_images(_images(2), None), QUESTIONS, batch_size=4)
    done = plan_keys(batches, [0], [1.0])
    assert plan_work(batches, [0], [1.0], done, ShardSpec(0, 1)) == []
