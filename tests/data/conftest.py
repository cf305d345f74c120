"""Fixtures of the data-stage tests (helpers live in data_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.data.data_helpers import image_bytes, write


@pytest.fixture
def small_sources(tmp_path: Path) -> Path:
    """A data root with a 2+2 image train source and a 1+1 image benchmark (aigcdetect)."""
    root = tmp_path / "data"
    for i, label in enumerate(("0_real", "0_real", "1_fake", "1_fake")):
        write(root / "train" / "gen_a" / label / f"img{i}.png", image_bytes(i))
    write(root / "bench" / "gen_b" / "0_real" / "r.png", image_bytes(100))
    write(root / "bench" / "gen_b" / "1_fake" / "f.png", image_bytes(101))
    return root
