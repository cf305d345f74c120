"""Scanning the three source layouts into entries: one per file seen (or CSV row).

Layouts (`SourceConfig.layout`):
    aigcdetect  <generator>/[<category>/]{0_real,1_fake}/<file>   (categories pooled per generator)
    folder      {0_real,1_fake}/<file> or {real,fake}/<file>       (generator = source name)
    csv         a CSV file: path (relative to the CSV's folder), label[, generator]

Every file found becomes an `Entry`; the ones that cannot be images of this source carry a
rejection already (`reject` = (reason, detail)): a name that is not UTF-8, a symlink resolving
outside the data root, something that is not a regular file, a file in no label folder or an
unknown one, an unsupported extension. Nothing is skipped silently, so the entries are the
"files seen" that accepted + rejected must add up to.
"""

from __future__ import annotations

import csv
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from realign_pipeline.config.ingest import SourceConfig
from realign_pipeline.errors import InputError, MissingInputError
from realign_pipeline.paths import PathEscapeError, resolve_within

# Folder names that carry a label, and the label values a CSV may use (compared lower case).
LABEL_FOLDERS = {"0_real": 0, "real": 0, "1_fake": 1, "fake": 1}
_CSV_LABELS = {**LABEL_FOLDERS, "0": 0, "1": 1}


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


def _walk(root: Path, data_root: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """All file paths under `root` (relative to the resolved `data_root`, sorted) plus rejected
    folders.

    Symlinked folders inside the data root are followed once (loops are cut); one resolving
    outside is recorded as a rejection, not entered.
    """
    files: list[str] = []
    rejected_dirs: list[tuple[str, str]] = []
    visited: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in visited:
            dirnames[:] = []
            continue
        visited.add(real)
        rel_dir = Path(os.path.relpath(dirpath, data_root))
        keep = []
        for name in sorted(dirnames):
            full = Path(dirpath, name)
            if full.is_symlink() and not Path(os.path.realpath(full)).is_relative_to(data_root):
                rejected_dirs.append(((rel_dir / name).as_posix(), os.path.realpath(full)))
            else:
                keep.append(name)
        dirnames[:] = keep
        files.extend((rel_dir / name).as_posix() for name in filenames)
    return sorted(files), rejected_dirs


def _file_problem(data_root: Path, rel: str) -> tuple[str, str] | None:
    """A rejection for paths that must not be opened, or None (`data_root` is resolved)."""
    if not is_utf8(rel):
        return ("non_utf8_name", "file name is not valid UTF-8 and cannot be stored faithfully")
    full = data_root / rel
    real = Path(os.path.realpath(full))
    if not real.is_relative_to(data_root):  # only a symlink (of the file or a folder) gets here
        return ("symlink_outside_root", f"points to {real}")
    try:
        mode = os.stat(full).st_mode
    except OSError as exc:
        return ("unreadable", f"{type(exc).__name__}: {exc.strerror or exc}")
    if not stat.S_ISREG(mode):
        return ("not_a_regular_file", "a device, pipe or socket")
    return None


def _label_location(
    parts: list[str], layout: str
) -> tuple[tuple[int, str, str] | None, tuple[str, str] | None]:
    """((label, generator, category), None) from a path under the source, or (None, rejection)."""
    if layout == "folder":
        if len(parts) != 2:
            return None, ("unexpected_location", "expected {0_real,1_fake}/<file> in the source")
        label_dir, generator, category = parts[0], "", ""
    else:
        if len(parts) not in (3, 4):
            return None, (
                "unexpected_location",
                "expected <generator>/[<category>/]{0_real,1_fake}/<file> in the source",
            )
        label_dir = parts[-2]
        generator, category = parts[0], parts[1] if len(parts) == 4 else ""
    label = LABEL_FOLDERS.get(label_dir.lower())
    if label is None:
        return None, (
            "unknown_label_folder",
            f"{label_dir!r} is not one of {sorted(LABEL_FOLDERS)}",
        )
    return (label, generator, category), None


def scan_folder(
    data_root: Path, source: SourceConfig, root: Path, extensions: frozenset[str]
) -> list[Entry]:
    """Entries of an `aigcdetect` or `folder` source, sorted by path."""
    files, rejected_dirs = _walk(root, data_root)
    entries = [
        Entry(p, source.name, None, "", "", ("symlink_outside_root", f"folder points to {t}"))
        for p, t in rejected_dirs
    ]
    root_rel = Path(os.path.relpath(root, data_root))
    for rel in files:
        parts = list(Path(rel).relative_to(root_rel).parts)
        located, problem = _label_location(parts, source.layout)
        problem = _file_problem(data_root, rel) or problem
        if problem is None and Path(rel).suffix.lower() not in extensions:
            problem = ("unsupported_extension", f"{Path(rel).suffix!r} not in ingest.extensions")
        if problem is not None or located is None:
            reject = problem or ("unexpected_location", "")
            entries.append(Entry(display_path(rel), source.name, None, "", "", reject))
            continue
        label, generator, category = located
        entries.append(Entry(rel, source.name, label, generator or source.name, category))
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
            problem = _file_problem(data_root, rel)
        if problem is None and label is None:
            value = row.get(opts.label_column)
            problem = ("unknown_label", f"row {row_no}: label {value!r} is not 0/1/real/fake")
        if problem is None and Path(rel).suffix.lower() not in extensions:
            problem = ("unsupported_extension", f"{Path(rel).suffix!r} not in ingest.extensions")
        if problem is not None:
            entries.append(Entry(rel, source.name, None, "", "", problem))
        else:
            entries.append(Entry(rel, source.name, label, generator or source.name, ""))
    return sorted(entries, key=lambda e: e.path)


def scan_source(
    data_root: Path, source: SourceConfig, key: str, extensions: frozenset[str]
) -> list[Entry]:
    """Every entry of one source.

    Raises:
        MissingInputError: the source folder or CSV does not exist.
        InputError: the source holds no files (or CSV rows), or its CSV is unusable.
    """
    root = source_root(data_root, source, key)
    if source.layout == "csv":
        entries = scan_csv(data_root, source, root, extensions)
    else:
        entries = scan_folder(data_root, source, root, extensions)
    if not entries:
        what = "rows" if source.layout == "csv" else "files"
        raise InputError(
            f"source {source.name!r} ({key}.path = {source.path!r}) has no {what}; "
            "point it at a folder with images or remove it from params"
        )
    return entries
