"""`review` section: the pre-review policy, the Label Studio queue and the import of the experts'
work (docs/paper.md step 3)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from realign_pipeline.config.base import Section


class ReviewConfig(Section):
    """Expert review: which samples are queued, how images are referenced, how import decides.

    The paper's experts remove misjudgments and hallucinations; `drop_incorrect` and
    `drop_bad_format` do the mechanical part before anyone looks (the paper preset: both true).
    """

    mode: Literal["auto", "human"] = Field(
        description="auto: import accepts the pre-filtered queue without humans (unattended runs, "
        "`dvc repro` end to end); human: import reads the experts' export at `export_path`.",
    )
    export_path: str = Field(
        min_length=1,
        description="Experts' export (Label Studio JSON / JSON-MIN, or the plain CSV/JSONL) read "
        "in human mode; a DVC-tracked file under data/review/.",
    )
    drop_incorrect: bool = Field(
        description="Drop samples whose parsed answer does not match the label before review "
        "(paper: true, misjudgments are removed).",
    )
    drop_bad_format: bool = Field(
        description="Drop samples whose completion breaks the <think>/<answer> format "
        "(paper: true).",
    )
    fallback_raw_text: bool = Field(
        description="When a sample has no <think> block, queue its raw completion instead and "
        "record text_source=raw_text (tiny models rarely emit the tags); false drops it as "
        "no_think.",
    )
    drop_duplicate_texts: bool = Field(
        description="Keep one copy of texts that are exactly equal (after whitespace trimming) for "
        "the same image.",
    )
    max_per_image: int = Field(
        ge=1,
        description="Cap of queued texts per image (correct, well-formed samples are kept first).",
    )
    min_text_chars: int = Field(
        ge=1,
        description="Shortest reasoning text, in characters after trimming, that counts as "
        "reasoning; shorter texts are dropped (export) or rejected as no_reasoning (import).",
    )
    min_pairs: int = Field(
        ge=1,
        description="Fewest items that must remain (queue after the policy, pairs after import); "
        "fewer stops the stage with the counts by reason.",
    )
    image_ref: Literal["local_files", "base_url"] = Field(
        description="How tasks reference images: Label Studio local-files URLs "
        "(/data/local-files/?d=...) relative to its document root, or `base_url` + path.",
    )
    local_files_dir: str = Field(
        description="Path of the data root relative to Label Studio's LOCAL_FILES_DOCUMENT_ROOT "
        "(e.g. 'data' when the document root is the repository); used when image_ref=local_files.",
    )
    base_url: str = Field(
        description="URL prefix that serves the data root (e.g. https://files.example/data/); "
        "used when image_ref=base_url, may be empty otherwise.",
    )

    @model_validator(mode="after")
    def _check_image_ref(self) -> ReviewConfig:
        if self.image_ref == "base_url" and not self.base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"review.base_url must be an http(s) URL when review.image_ref=base_url "
                f"(got {self.base_url!r}); set it or use image_ref=local_files"
            )
        if self.local_files_dir.startswith("/") or ".." in self.local_files_dir.split("/"):
            raise ValueError(
                f"review.local_files_dir must be relative to Label Studio's document root without "
                f"'..' (got {self.local_files_dir!r})"
            )
        return self
