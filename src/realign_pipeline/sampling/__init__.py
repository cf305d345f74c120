"""Sample stage: many reasoning texts (or captions) per image, batched, seeded and resumable.

Entry point: `run_sample` (see `run.py`). `plan.py` forms keys, batches and shard slices;
`store.py` writes, resumes and merges shard files; `transformers_backend.py` and
`vllm_backend.py` generate.
"""

from realign_pipeline.sampling.plan import ShardSpec, parse_shard
from realign_pipeline.sampling.run import OUTPUT_FILES, run_sample
from realign_pipeline.sampling.store import SAMPLE_COLUMNS

__all__ = ["OUTPUT_FILES", "SAMPLE_COLUMNS", "ShardSpec", "parse_shard", "run_sample"]
