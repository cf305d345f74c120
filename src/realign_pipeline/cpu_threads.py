"""Fix torch's CPU thread count for a stage that computes on the CPU."""

from __future__ import annotations


def set_cpu_threads(threads: int) -> None:
    """Set torch's (process-wide) CPU threads to `threads` when it is > 0 and no GPU is visible.

    CPU float sums depend on the thread count: a fixed count keeps a CPU run's outputs
    byte-identical whatever OMP_NUM_THREADS or the core count; 0 keeps torch's default.
    """
    import torch

    if threads > 0 and not torch.cuda.is_available():
        torch.set_num_threads(threads)
