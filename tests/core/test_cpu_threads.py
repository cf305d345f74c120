"""`set_cpu_threads` fixes torch's CPU threads on a GPU-less run; 0 keeps torch's default."""

from __future__ import annotations

import pytest
import torch

from realign_pipeline.cpu_threads import set_cpu_threads


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU run keeps torch's default")
def test_set_cpu_threads_sets_a_positive_count_and_keeps_the_default_for_zero() -> None:
    before = torch.get_num_threads()
    try:
        set_cpu_threads(0)  # 0: torch's default, untouched
        assert torch.get_num_threads() == before
        set_cpu_threads(1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
