"""The samples table: written by the sample stage, read by review export.

Files: `artifacts/reasoning/samples.parquet` (reasoning) and `artifacts/captions/captions.parquet`
(captions), one row per generated key, sorted by key.

Columns (`SAMPLE_COLUMNS`):
    image_id, question_id, seed, temperature   the key (`SAMPLE_KEY`)
    path, label, generator                     copied from the manifest (label: 0 real, 1 fake)
    raw_text      the decoded completion (for captions: the caption)
    think         text of the one <think> block, null when absent (captions: null)
    answer        "real" | "fake" | null (captions: null)
    format_ok     <think>..</think><answer>..</answer> and nothing else (captions: False)
    correct       answer equals the label's name (captions: False)
    n_tokens      generated tokens, up to and including the end-of-sequence token
    model_id      the model name or folder the text came from

Readers require `REQUIRED_SAMPLE_COLUMNS`: every column but `n_tokens`, which tables made by
other tools may lack.
"""

from __future__ import annotations

SAMPLE_KEY = ("image_id", "question_id", "seed", "temperature")
SAMPLE_COLUMNS = (
    *SAMPLE_KEY,
    "path",
    "label",
    "generator",
    "raw_text",
    "think",
    "answer",
    "format_ok",
    "correct",
    "n_tokens",
    "model_id",
)
REQUIRED_SAMPLE_COLUMNS = tuple(c for c in SAMPLE_COLUMNS if c != "n_tokens")
