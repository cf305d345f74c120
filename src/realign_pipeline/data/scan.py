"""Scanning a source into entries: one per file seen (or CSV row), walked once.

Every file found becomes an `Entry`. Files that cannot be images of the source carry a rejection
already (`reject` = (reason, detail)): a name that is not UTF-8, a symlink resolving outside the
data root, something that is not a regular file, a file the layout does not place (layouts.py), an
unsupported extension. Side files that data sets ship beside their images (AIGI-Holmes' `.jsonl`,
READMEs, CSV lists, `.DS_Store`) are entries with reason `side_file`: recorded, never taken for
images and never counted as rejections. Nothing is skipped silently, so the entries are the "files
seen" that accepted + rejected + side files add up to. A source's `categories` filter selects which
<category> folders belong to it (ProGAN's 4-class training setting); files of other categories,
like the other split of a GenImage folder, are not part of the source.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from realign_pipeline.config.ingest import IngestConfig, SourceConfig
from realign_pipeline.data.layouts import LABEL_FOLDERS, get_layout
from realign_pipeline.errors import ConfigError, InputError, MissingInputError, RealignError
from realign_pipeline.paths import PathEscapeError, resolve_within

# The label values a CSV may use (compared lower case).
_CSV_LABELS = {**LABEL_FOLDERS, "0": 0, "1": 1}
# Files data sets ship beside their images: annotations, lists, notes, OS metadata (including the
# `._name` AppleDouble files a macOS-made archive unpacks next to every image).
SIDE_FILE = "side_file"
SIDE_FILE_SUFFIXES = frozenset(
    {".jsonl", ".json", ".txt", ".csv", ".tsv", ".md", ".yaml", ".yml", ".xml", ".pdf", ".html"}
)
SIDE_FILE_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini"})


@dataclass(frozen=True)
class Entry:
    """One file seen in a source; `reject` is set when it is refused before decoding."""

    path: str  # POSIX, relative to the data root (non-UTF-8 bytes shown as \\x escapes)
    source: str
    label: int | None
    generator: str
    category: str
    reject: tuple[str, str] | None = None


def display_path(rel: str) -> str:
    """A storable form of a path that may hold undecodable bytes (surrogate escapes)."""
    return os.fsencode(rel).decode("utf-8", errors="backslashreplace")


def is_utf8(rel: str) -> bool:
    """False when the name held bytes that are not UTF-8 (Python keeps them as surrogates)."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def source_root(data_root: Path, source: SourceConfig, key: str) -> Path:
    """The source's folder or CSV file, checked to exist inside the data root.

    Raises:
        InputError: the path escapes the data root.
        MissingInputError: it does not exist.
    """
    try:
        path = resolve_within(data_root, source.path)
    except PathEscapeError:
        raise InputError(
            f"{key}.path = {source.path!r} (source {source.name!r}) resolves outside the data "
            f"root {str(data_root)!r}; give a path relative to the data root"
        ) from None
    want_file = source.layout == "csv"
    if not (path.is_file() if want_file else path.is_dir()):
        what = "CSV file" if want_file else "folder"
        raise MissingInputError(
            f"source {source.name!r}: {what} {source.path!r} not found under data root "
            f"{str(data_root)!r} (set {key}.path, or run `realign demo-data` for the demo data)"
        )
    return path


def _walk(root: str, data_root: str) -> tuple[list[tuple[str, bool]], list[Entry]]:
    """Every file under `root` as (path relative to `data_root`, is a symlink), plus rejected
    folders as entries without a source name (both resolved, `root` inside `data_root`).

    Symlinked folders inside the data root are followed once (loops are cut); one resolving
    outside is recorded as a rejection and not entered, so a file reached without a symlink of
    its own is always inside the data root. An unreadable folder is recorded, not raised.
    """
    prefix = len(data_root.rstrip(os.sep)) + 1
    files: list[tuple[str, bool]] = []
    rejected: list[Entry] = []
    visited: set[str] = set()
    stack = [root]
    while stack:
        directory = stack.pop()
        real = os.path.realpath(directory)
        if real in visited:
            continue
        visited.add(real)
        try:
            with os.scandir(directory) as listing:
                # sorted: which alias of a folder reached twice is kept must not depend on
                # the file system's listing order
                items = sorted(listing, key=lambda item: item.name)
        except OSError as exc:
            detail = f"folder cannot be listed: {exc.strerror or exc}"
            rejected.append(
                Entry(display_path(directory[prefix:]), "", None, "", "", ("unreadable", detail))
            )
            continue
        for item in items:
            rel = item.path[prefix:]
            if not item.is_dir(follow_symlinks=True):
                files.append((rel, item.is_symlink()))
            elif not item.is_symlink() or _is_inside(os.path.realpath(item.path), data_root):
                stack.append(item.path)
            else:
                reject = ("symlink_outside_root", f"folder {_link_text(item.path)}")
                rejected.append(Entry(display_path(rel), "", None, "", "", reject))
    return sorted(files), rejected


def _link_text(path: str) -> str:
    """What a link escaping the root says (its own text, not this machine's resolved path, so
    the rejected table is the same on every clone)."""
    try:
        return f"links to {display_path(os.readlink(path))!r}, outside the data root"
    except OSError:  # not a link itself: a folder on its path is
        return "resolves outside the data root through a symlinked folder"


def _is_inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _file_problem(data_root: str, rel: str, may_escape: bool) -> tuple[str, str] | None:
    """A rejection for paths that must not be opened, or None.

    Args:
        data_root: the resolved data root.
        rel: path relative to it.
        may_escape: the path is (or goes through) a symlink, so where it ends must be checked.
    """
    if not is_utf8(rel):
        return ("non_utf8_name", "file name is not valid UTF-8 and cannot be stored faithfully")
    full = os.path.join(data_root, rel)
    if may_escape:
        if not _is_inside(os.path.realpath(full), data_root):
            return ("symlink_outside_root", _link_text(full))
    try:
        mode = os.stat(full).st_mode
    except OSError as exc:
        return ("unreadable", f"{type(exc).__name__}: {exc.strerror or exc}")
    if not stat.S_ISREG(mode):
        return ("not_a_regular_file", "a folder, device, pipe or socket: never opened")
    return None


def is_side_file(rel: str) -> bool:
    """Whether a file is one a data set ships beside its images (never an image itself)."""
    name = os.path.basename(rel).lower()
    suffix = os.path.splitext(name)[1]
    return name in SIDE_FILE_NAMES or name.startswith("._") or suffix in SIDE_FILE_SUFFIXES


def scan_folder(
    data_root: Path, source: SourceConfig, root: Path, extensions: frozenset[str]
) -> list[Entry]:
    """Entries of a folder layout source, sorted by path (`data_root` resolved)."""
    locate = get_layout(source.layout).locate
    assert locate is not None  # a folder layout
    files, rejected_dirs = _walk(str(root), str(data_root))
    entries = [dataclasses.replace(e, source=source.name) for e in rejected_dirs]
    skip = len(os.path.relpath(root, data_root)) + 1 if root != data_root else 0
    for rel, is_link in files:
        located = locate(rel[skip:].split("/"), source)
        if located is None:  # not part of this source (the other split)
            continue
        problem = _file_problem(str(data_root), rel, is_link)
        if problem is None and is_side_file(rel):
            problem = (SIDE_FILE, "shipped beside the images; not an image")
        suffix = os.path.splitext(rel)[1]
        if problem is None and isinstance(located[0], str):
            problem = located  # a rejection: the layout does not place this file
        if problem is None and suffix.lower() not in extensions:
            problem = ("unsupported_extension", f"{suffix!r} not in ingest.extensions")
        if problem is not None:
            entries.append(Entry(display_path(rel), source.name, None, "", "", problem))
            continue
        label, generator, category = located
        entries.append(Entry(rel, source.name, label, generator, category))
    return sorted(entries, key=lambda e: e.path)


def _read_csv_rows(csv_path: Path, source: SourceConfig) -> list[dict[str, str]]:
    opts = source.csv
    assert opts is not None  # guaranteed by SourceConfig's validator
    try:
        with open(csv_path, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            columns = reader.fieldnames or []
    except UnicodeDecodeError as exc:
        raise InputError(f"source {source.name!r}: {source.path} is not UTF-8 ({exc})") from None
    except csv.Error as exc:
        raise InputError(
            f"source {source.name!r}: {source.path} is not valid CSV ({exc})"
        ) from None
    wanted = [c for c in (opts.path_column, opts.label_column, opts.generator_column) if c]
    missing = [c for c in wanted if c not in columns]
    if missing:
        raise InputError(
            f"source {source.name!r}: {source.path} lacks columns {missing}; it has {columns} "
            "(set the source's csv.path_column / label_column / generator_column)"
        )
    return rows


def scan_csv(
    data_root: Path, source: SourceConfig, csv_path: Path, extensions: frozenset[str]
) -> list[Entry]:
    """Entries of a `csv` source, one per row, sorted by path."""
    opts = source.csv
    assert opts is not None
    base = Path(os.path.relpath(csv_path.parent, data_root))
    entries = []
    for row_no, row in enumerate(_read_csv_rows(csv_path, source), start=2):
        raw = (row.get(opts.path_column) or "").strip()
        rel = os.path.normpath(base / raw).replace(os.sep, "/") if raw else f"<row {row_no}>"
        label = _CSV_LABELS.get((row.get(opts.label_column) or "").strip().lower())
        generator = (row.get(opts.generator_column) or "").strip() if opts.generator_column else ""
        problem: tuple[str, str] | None = None
        if not raw:
            problem = ("missing_path", f"row {row_no}: empty {opts.path_column!r}")
        elif rel.startswith("../") or rel == ".." or Path(raw).is_absolute():
            problem = ("path_outside_root", f"row {row_no}: {raw!r} leaves the data root")
        elif not (data_root / rel).exists() and not (data_root / rel).is_symlink():
            problem = ("missing_file", f"row {row_no}: {raw!r} does not exist")
        else:
            problem = _file_problem(str(data_root), rel, may_escape=True)
        if problem is None and label is None:
            value = row.get(opts.label_column)
            problem = ("unknown_label", f"row {row_no}: label {value!r} is not 0/1/real/fake")
        if problem is None and Path(rel).suffix.lower() not in extensions:
            problem = ("unsupported_extension", f"{Path(rel).suffix!r} not in ingest.extensions")
        if problem is not None:
            entries.append(Entry(rel, source.name, None, "", "", problem))
        else:
            generator = generator or source.generator or source.name
            entries.append(Entry(rel, source.name, label, generator, ""))
    return sorted(entries, key=lambda e: e.path)


def _select_categories(entries: list[Entry], source: SourceConfig, key: str) -> list[Entry]:
    """The entries under the source's selected category folders (`categories`).

    Raises:
        ConfigError: a selected category has no folder in the source (a typo would otherwise
            silently train on fewer classes).
    """
    wanted = set(source.categories or ())
    found = {e.category for e in entries if e.category}
    missing = sorted(wanted - found)
    if missing:
        raise ConfigError(
            f"{key}.categories: {missing} not found in source {source.name!r} "
            f"(categories there: {sorted(found) or 'none'})"
        )
    # files refused before decoding carry no category: they stay, reported as rejections
    return [e for e in entries if e.category in wanted or e.reject is not None]


def scan_source(
    data_root: Path, source: SourceConfig, key: str, extensions: frozenset[str]
) -> list[Entry]:
    """Every entry of one source (possibly none: checks.py refuses an empty source).

    Raises:
        MissingInputError: the source folder or CSV does not exist.
        InputError: the source escapes the data root, or its CSV is unusable.
        ConfigError: a selected category has no folder in the source.
    """
    root = source_root(data_root, source, key)
    if source.layout == "csv":
        entries = scan_csv(data_root, source, root, extensions)
    else:
        entries = scan_folder(data_root, source, root, extensions)
    if source.categories is not None:
        entries = _select_categories(entries, source, key)
    return entries


def scan_sources(
    data_root: Path, cfg: IngestConfig
) -> tuple[dict[str, list[Entry]], dict[str, RealignError]]:
    """Entries per source name (train sources first, in params order), and the error of each
    source that could not be scanned (`scan_source`'s errors; the caller decides)."""
    extensions = frozenset(cfg.extensions)
    scanned: dict[str, list[Entry]] = {}
    errors: dict[str, RealignError] = {}
    for key, sources in (("train_sources", cfg.train_sources), ("benchmarks", cfg.benchmarks)):
        for i, source in enumerate(sources):
            try:
                scanned[source.name] = scan_source(
                    data_root, source, f"ingest.{key}[{i}]", extensions
                )
            except RealignError as exc:
                errors[source.name] = exc
    return scanned, errors
