"""`ingest` section: which folders hold the training data and the benchmarks, and how strict
the validation of every image is."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from realign_pipeline.config.base import Section

Layout = Literal["aigcdetect", "categories", "folder", "genimage", "csv"]
SOURCE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class CsvOptions(Section):
    """Column names of a `csv` source (one row per image)."""

    path_column: str = Field(
        min_length=1,
        description="Column with the image path, relative to the CSV file's folder.",
    )
    label_column: str = Field(
        min_length=1,
        description="Column with the label: 0/1, real/fake or 0_real/1_fake (case-insensitive).",
    )
    generator_column: str | None = Field(
        description="Column with the generator name; null uses the source name for every row.",
    )


class SourceConfig(Section):
    """One data source: a training source or a benchmark."""

    name: str = Field(
        pattern=SOURCE_NAME_PATTERN,
        description="Source name: the manifests' `dataset` column; a benchmark's manifest is "
        "bench-<name>.parquet. Letters, digits, `_`, `.`, `-`.",
    )
    layout: Layout = Field(
        description="How the folder is laid out (data/layouts.py, docs/ingest.md): aigcdetect "
        "<generator>/[<category>/]{0_real,1_fake}/*; categories [<generator>/]<category>/"
        "{0_real,1_fake}/* (CNNDetection's ProGAN training set); folder {0_real,1_fake}/* "
        "(AIGI-Holmes training set, Chameleon); genimage [<generator>/]<split>/{ai,nature}/*; "
        "csv: a CSV file with path, label[, generator] columns.",
    )
    path: str = Field(
        min_length=1,
        description="Folder (aigcdetect, folder) or CSV file (csv), relative to the data root.",
    )
    csv: CsvOptions | None = Field(
        default=None, description="Column names; required for layout csv, absent otherwise."
    )
    categories: list[str] | None = Field(
        default=None,
        min_length=1,
        description="aigcdetect and categories only: the <category> folders that belong to the "
        "source (e.g. ProGAN's 4-class setting: [car, cat, chair, horse]); files of other "
        "categories are not part of it. Absent: every category (the 20-class setting).",
    )
    generator: str | None = Field(
        default=None,
        pattern=SOURCE_NAME_PATTERN,
        description="Generator name of layouts whose folders do not name one (categories, "
        "folder, genimage pointed at one generator, csv without a generator column). Absent: "
        "the folder that names it, else the source name.",
    )
    split: Literal["train", "val"] | None = Field(
        default=None,
        description="genimage only (required there): which split folder belongs to the source; "
        "files of the other split are not part of it.",
    )
    required: bool = Field(
        default=True,
        description="Benchmarks only: false lets a run go on without this benchmark when its "
        "folder is missing (skipped with a warning, listed as missing in the evaluation).",
    )

    @model_validator(mode="after")
    def _csv_options_match_layout(self) -> SourceConfig:
        if self.layout == "csv" and self.csv is None:
            raise ValueError(
                f"source {self.name!r}: layout csv needs `csv: {{path_column, label_column, "
                "generator_column}}`"
            )
        if self.layout != "csv" and self.csv is not None:
            raise ValueError(f"source {self.name!r}: `csv` options are only for layout csv")
        if self.categories is not None and self.layout not in ("aigcdetect", "categories"):
            raise ValueError(
                f"source {self.name!r}: `categories` filters <category> folders, so it needs "
                f"layout aigcdetect or categories (got {self.layout})"
            )
        if (self.split is None) == (self.layout == "genimage"):
            raise ValueError(
                f"source {self.name!r}: `split: train|val` is required for layout genimage "
                f"and only allowed there (layout {self.layout})"
            )
        return self


class IngestConfig(Section):
    """Validation of every image and the manifests it yields (train, val, one per benchmark)."""

    train_sources: list[SourceConfig] = Field(
        min_length=1, description="Sources pooled into the train and val manifests."
    )
    benchmarks: list[SourceConfig] = Field(
        description="Test sets; each gets its own manifest bench-<name>.parquet."
    )
    val_fraction: float = Field(
        ge=0.0,
        lt=1.0,
        description="Share of the train pool moved to val, chosen by a seeded hash of the image "
        "bytes (stable: an image never changes split when others are added).",
    )
    extensions: list[str] = Field(
        min_length=1,
        description="File extensions (lower case, with the dot) treated as images; any other "
        "file is recorded as rejected with reason unsupported_extension.",
    )
    max_pixels: int = Field(
        gt=0,
        description="Reject images with more pixels than this (decompression bombs), checked "
        "from the header before decoding. Pillow's own limit is 89478485.",
    )
    min_side: int = Field(ge=1, description="Reject images whose shorter side is below this (px).")
    drop_leakage: bool = Field(
        description="Remove train images whose bytes also occur in a benchmark (recorded in "
        "leakage.parquet either way, and as rejected with reason leakage when removed).",
    )
    num_workers: int = Field(
        ge=0, description="Decoding processes; 0 uses every core available to this process."
    )
    chunk_size: int = Field(gt=0, description="Files handed to a decoding process at a time.")
    pool_min_files: int = Field(
        ge=1,
        description="Decode in this process when there are fewer files than this: starting a "
        "process pool costs more than it saves on a few small images.",
    )

    @model_validator(mode="after")
    def _check_names_and_extensions(self) -> IngestConfig:
        names = [s.name for s in (*self.train_sources, *self.benchmarks)]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(
                f"source names must be unique across train_sources and benchmarks; "
                f"repeated: {dupes}"
            )
        optional = [s.name for s in self.train_sources if not s.required]
        if optional:
            raise ValueError(
                f"train sources cannot be optional (`required: false` on {optional}); "
                "only benchmarks can"
            )
        bad = [e for e in self.extensions if not e.startswith(".") or e != e.lower()]
        if bad:
            raise ValueError(f"extensions must be lower case and start with '.', got {bad}")
        return self
