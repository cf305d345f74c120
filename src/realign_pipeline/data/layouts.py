"""The folder layouts ingest reads: where the label, generator and category of a file come from.

Each layout is taken from the data set's own repository or loading code (docs/ingest.md has the
table with the sources):

    aigcdetect  <generator>/[<category>/]{0_real,1_fake}/<file>   AIGCDetectBenchmark's test set
                (categories pooled per generator, as its `loadpathslist` does)
    categories  [<generator>/]<category>/{0_real,1_fake}/<file>  CNNDetection's ProGAN training set:
                every folder is a category (its `--classes`); the optional top level is the
                `progan/` folder some READMEs add
    folder      {0_real,1_fake}/<file>                          one generator: AIGI-Holmes'
                training set (`.jsonl` beside it), AIDE's Chameleon test set
    genimage    [<generator>/]<split>/{ai,nature}/<file>        GenImage: per generator
                `train|val/{ai,nature}`; the source picks one split
    csv         a CSV file: path (relative to the CSV's folder), label[, generator]

`list_layouts()` names them; `get_layout(name)` returns one. A layout's `locate` maps the parts of
a path below the source folder to (label, generator, category), to a rejection, or to None for a
file that is not part of the source (the other split of a GenImage folder).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from realign_pipeline.config.ingest import SourceConfig
from realign_pipeline.errors import ConfigError

# Folder names that carry a label (compared lower case): CNNDetection's and AIGCDetectBenchmark's
# 0_real/1_fake, GenImage's nature/ai, and plain real/fake.
LABEL_FOLDERS = {"0_real": 0, "real": 0, "nature": 0, "1_fake": 1, "fake": 1, "ai": 1}

Located = tuple[int, str, str]  # label, generator, category
Rejection = tuple[str, str]  # reason, detail
Locate = Callable[[list[str], SourceConfig], "Located | Rejection | None"]


@dataclass(frozen=True)
class Layout:
    """One way a data set lays out its files."""

    name: str
    pattern: str  # what a path below the source folder must look like (shown in errors)
    locate: Locate | None  # None: not a folder layout (csv)


_AIGCDETECT = "<generator>/[<category>/]{0_real,1_fake}/<file>"
_CATEGORIES = "[<generator>/]<category>/{0_real,1_fake}/<file>"
_FOLDER = "{0_real,1_fake}/<file>"
_GENIMAGE = "[<generator>/]{train,val}/{ai,nature}/<file>"


def _label(folder: str) -> int | Rejection:
    label = LABEL_FOLDERS.get(folder.lower())
    if label is None:
        return ("unknown_label_folder", f"{folder!r} is not one of {sorted(LABEL_FOLDERS)}")
    return label


def _misplaced(layout: str, pattern: str) -> Rejection:
    return ("unexpected_location", f"expected {pattern} (layout {layout})")


def _named(source: SourceConfig) -> str:
    """Generator of a file whose folders do not name one."""
    return source.generator or source.name


def _locate_aigcdetect(parts: list[str], source: SourceConfig) -> Located | Rejection | None:
    if len(parts) not in (3, 4):
        return _misplaced("aigcdetect", _AIGCDETECT)
    label = _label(parts[-2])
    if isinstance(label, tuple):
        return label
    return label, parts[0], parts[1] if len(parts) == 4 else ""


def _locate_categories(parts: list[str], source: SourceConfig) -> Located | Rejection | None:
    if len(parts) not in (3, 4):
        return _misplaced("categories", _CATEGORIES)
    label = _label(parts[-2])
    if isinstance(label, tuple):
        return label
    generator = parts[0] if len(parts) == 4 else _named(source)
    return label, generator, parts[-3]


def _locate_folder(parts: list[str], source: SourceConfig) -> Located | Rejection | None:
    if len(parts) != 2:
        return _misplaced("folder", _FOLDER)
    label = _label(parts[0])
    if isinstance(label, tuple):
        return label
    return label, _named(source), ""


def _locate_genimage(parts: list[str], source: SourceConfig) -> Located | Rejection | None:
    # GenImage ships <generator>/<split>/{ai,nature}/<file>; the Google-Drive copy adds one level
    # (stable_diffusion_v_1_4/imagenet_ai_0419_sdv4/...): the top folder names the generator.
    if len(parts) not in (3, 4, 5) or parts[-3].lower() not in ("train", "val"):
        return _misplaced("genimage", _GENIMAGE)
    if parts[-3].lower() != source.split:
        return None
    label = _label(parts[-2])
    if isinstance(label, tuple):
        return label
    return label, parts[0] if len(parts) > 3 else _named(source), ""


_LAYOUTS: dict[str, Layout] = {
    "aigcdetect": Layout("aigcdetect", _AIGCDETECT, _locate_aigcdetect),
    "categories": Layout("categories", _CATEGORIES, _locate_categories),
    "folder": Layout("folder", _FOLDER, _locate_folder),
    "genimage": Layout("genimage", _GENIMAGE, _locate_genimage),
    "csv": Layout("csv", "a CSV file with path, label[, generator] columns", None),
}


def list_layouts() -> list[str]:
    """Names of the layouts a source may declare."""
    return sorted(_LAYOUTS)


def get_layout(name: str) -> Layout:
    """The layout called `name`.

    Raises:
        ConfigError: no such layout; the message names the valid ones.
    """
    try:
        return _LAYOUTS[name]
    except KeyError:
        raise ConfigError(f"unknown layout {name!r}; available: {list_layouts()}") from None
