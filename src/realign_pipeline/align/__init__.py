"""ReAlign alignment training (docs/paper.md, step 4): frozen CLIP text tower, LoRA image tower, MLP
head, contrastive + BCE loss; exports the deployable detector (`realign_pipeline.detector`).

Entry point: `run_align(pairs_path, data_root, out_dir, cfg, seed=...)` (see `stage.py`).
"""

from realign_pipeline.align.stage import run_align

__all__ = ["run_align"]
