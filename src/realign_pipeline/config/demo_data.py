"""`demo_data` section: the seeded stand-in data set that `realign demo-data` builds."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from realign_pipeline.config.base import Section

# The stand-in generators of `realign_pipeline.data.generators` (its registry is keyed by these;
# a test keeps the two equal). A Literal keeps config loading free of the image libraries.
GeneratorName = Literal[
    "colour_quantise",
    "denoise_resharpen",
    "latent_grid",
    "patch_mosaic",
    "resample_jpeg",
    "upsampler",
]


class DemoDataConfig(Section):
    """Stand-in real photos and procedural fakes for exercising the pipeline on a laptop.

    These images are not a measure of detection quality: the fakes come from simple procedural
    "generators" with deliberate fingerprints, not from generative models.
    """

    image_size: int = Field(
        ge=32,
        le=512,
        multiple_of=8,
        description="Side of every square image (px), a multiple of 8.",
    )
    train_generators: list[GeneratorName] = Field(
        min_length=1,
        description="Stand-in generators of data/train/<generator>/ (described in "
        "`realign_pipeline.data.generators`).",
    )
    benchmark_name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="Benchmark folder name: data/benchmarks/<benchmark_name>/.",
    )
    benchmark_generators: list[GeneratorName] = Field(
        min_length=1,
        description="Generators of the benchmark; include some absent from train_generators to "
        "test generalisation to unseen generators.",
    )
    train_real_per_generator: int = Field(ge=1, description="Real crops per train generator.")
    train_fake_per_generator: int = Field(ge=1, description="Fakes per train generator.")
    benchmark_real_per_generator: int = Field(
        ge=1, description="Real crops per benchmark generator."
    )
    benchmark_fake_per_generator: int = Field(ge=1, description="Fakes per benchmark generator.")

    @model_validator(mode="after")
    def _check_generators(self) -> DemoDataConfig:
        for key in ("train_generators", "benchmark_generators"):
            names = getattr(self, key)
            if len(set(names)) != len(names):
                raise ValueError(f"{key}: each generator may appear once, got {names}")
        return self
