"""The flow checks the data at its start for the paper presets: what ingest would refuse stops the
run before any stage (and any GPU) starts, naming the folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.data.data_helpers import image_bytes, write


def test_paper_preset_run_stops_before_any_stage_on_a_one_label_training_set(
    toy_workspace: Path, prefect_harness: None
) -> None:
    from flows.pipeline import realign_pipeline

    data = toy_workspace / "data"
    write(data / "AIGI-Holmes" / "dataset" / "0_real" / "a.png", image_bytes(1))
    write(data / "AIGI-Holmes" / "dataset" / "sft.jsonl", b"{}\n")
    for i, label in enumerate(("0_real", "1_fake")):
        write(data / "AIGI-Holmes" / "TestSet" / "FLUX" / label / f"{i}.png", image_bytes(2 + i))
    with pytest.raises(Exception, match=r"training pool has no fake image .* AIGI-Holmes/dataset"):
        realign_pipeline(preset="paper-holmes", stages=("ingest",), repo=str(toy_workspace))
    assert not (toy_workspace / "artifacts").exists()  # the stand-in ingest never ran
