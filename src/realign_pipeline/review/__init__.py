"""Expert review (docs/paper.md step 3): the Label Studio queue, the import of the experts'
work, the unattended `auto` policy and the image-text pairs for alignment.

Entry points: `run_review_export` (samples -> queue), `run_review_import` (queue + export ->
pairs), `check_export` (validate a submitted export before resuming a paused flow).
"""

from realign_pipeline.review.export_stage import run_review_export
from realign_pipeline.review.import_stage import check_export, run_review_import

__all__ = ["check_export", "run_review_export", "run_review_import"]
