"""`evaluate` and `ablate` sections.

`evaluate` follows AIGCDetectBenchmark's conventions (sigmoid > 0.5, acc / real acc / fake acc /
sklearn AP per generator, categories pooled, mAcc = plain mean over generators) and adds the
robustness grid (perturbations applied before preprocessing). `ablate` chooses which rows of the
paper's Tables 4 (alignment text) and 5 (strategy x fine-tuning) `realign ablate` runs.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from realign_pipeline.config.align import TextVariant
from realign_pipeline.config.base import CpuThreads, Section

PreprocessingPolicy = Literal["model", "aigcdetect", "center_crop"]
PerturbationKind = Literal["jpeg", "blur", "downscale"]
TrainingVariant = Literal[
    "joint_lora",
    "joint_full",
    "sequential_full",
    "sequential_lora",
    "bce_only_frozen",
    "bce_only_lora",
]


class PerturbationSpec(Section):
    """One robustness condition, applied to the decoded image before preprocessing."""

    kind: PerturbationKind = Field(
        description="jpeg: re-encode at quality `value` (1-95); blur: Gaussian blur with sigma "
        "`value` pixels; downscale: resize by factor `value` (0 < value < 1, bicubic)."
    )
    value: float = Field(gt=0, description="JPEG quality, blur sigma (px) or downscale factor.")

    @model_validator(mode="after")
    def _check_range(self) -> PerturbationSpec:
        if self.kind == "jpeg" and not (1 <= self.value <= 95 and float(self.value).is_integer()):
            raise ValueError(f"jpeg quality must be an integer in 1..95, got {self.value}")
        if self.kind == "downscale" and not 0 < self.value < 1:
            raise ValueError(f"downscale factor must be in (0, 1), got {self.value}")
        return self


class EvaluateConfig(Section):
    """Benchmark evaluation of the exported detector (`realign evaluate`)."""

    benchmarks: list[str] = Field(
        min_length=1,
        description="Benchmark names; each is read from `<manifests>/bench-<name>.parquet` "
        "(paper: aigcdetect, aigi_holmes, ultrasynth; tiny: demo).",
    )
    preprocessing: PreprocessingPolicy = Field(
        description="model: the detector's own transform, read from the exported detector (what "
        "it saw in training; the default of every preset); aigcdetect: AIGCDetectBenchmark's "
        "code, a square resize to round(image_size * resize_scale) (bilinear), then a centre "
        "crop of image_size; center_crop: centre crop of image_size only, zero-padding smaller "
        "images (UniFD)."
    )
    resize_scale: float = Field(
        ge=1.0,
        description="loadSize / CropSize of the aigcdetect policy (AIGCDetectBenchmark: 256/224 "
        "= 1.142857; 336 -> 384).",
    )
    threshold: float = Field(
        gt=0, lt=1, description="p_fake above this is 'fake' (AIGCDetectBenchmark: 0.5)."
    )
    ece_bins: int = Field(gt=0, description="Equal-width confidence bins of the ECE (usual: 15).")
    batch_size: int = Field(gt=0, description="Images per forward pass.")
    num_workers: int = Field(ge=0, description="DataLoader worker processes (0 = in process).")
    device: str = Field(
        pattern=r"^(cpu|cuda(:\d+)?|mps)$", description="Torch device: cpu, cuda, cuda:N or mps."
    )
    cpu_threads: CpuThreads
    max_pixels: int = Field(
        gt=0, description="Images with more pixels are recorded as failed (decompression bomb)."
    )
    perturbations: list[PerturbationSpec] = Field(
        description="Robustness grid; the unperturbed condition `none` is always evaluated. "
        "Each entry multiplies evaluation time by one."
    )

    @model_validator(mode="after")
    def _check_unique(self) -> EvaluateConfig:
        if len(set(self.benchmarks)) != len(self.benchmarks):
            raise ValueError(f"benchmarks has duplicates: {self.benchmarks}")
        keys = [(p.kind, p.value) for p in self.perturbations]
        if len(set(keys)) != len(keys):
            raise ValueError(f"perturbations has duplicates: {keys}")
        return self


class AblateConfig(Section):
    """Which rows of the paper's ablation tables `realign ablate` runs as DVC experiments."""

    text_variants: list[TextVariant] = Field(
        min_length=1,
        description="Table 4 rows (align.text_variant values, with the preset's own strategy and "
        "fine-tuning): full, reasoning_only, label_caption, caption_only, label_only. What each "
        "does: evaluate/ablate.py TABLES, docs/evaluate.md.",
    )
    training_variants: list[TrainingVariant] = Field(
        min_length=1,
        description="Table 5 rows (text full + strategy + fine-tuning): joint_lora, joint_full, "
        "sequential_full, sequential_lora, bce_only_frozen, bce_only_lora. What each does: "
        "evaluate/ablate.py TABLES, docs/evaluate.md.",
    )
    perturbation: str = Field(
        min_length=1,
        description="Which evaluated condition the comparison table reads (`none`: clean images).",
    )

    @model_validator(mode="after")
    def _check_unique(self) -> AblateConfig:
        for name in ("text_variants", "training_variants"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ValueError(f"{name} has duplicates: {values}")
        return self
