"""Atomic writes: a temporary file (or folder) beside the target, then a rename.

A killed or failing writer (disk full, SIGKILL) leaves either the previous output or the new one,
never a partial file. Every stage writes its outputs through these helpers.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from realign_pipeline.errors import RealignError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _chmod_default(path: Path, directory: bool = False) -> None:
    """Give a temp file/folder the mode a plain open()/mkdir() would (mkstemp uses 0600/0700)."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


# errno values that mean "this output cannot be written here": reported as one clear line
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


class OutputWriteError(RealignError, OSError):
    """An output could not be written (disk full, quota exceeded, read-only file system)."""


def _as_write_error(path: Path, exc: OSError) -> OSError:
    """`exc` as an `OutputWriteError` naming the target when it is a space/read-only failure."""
    if isinstance(exc, OutputWriteError) or exc.errno not in _WRITE_ERRNOS:
        return exc
    return OutputWriteError(
        exc.errno,
        f"cannot write {path}: {exc.strerror or exc}; the previous {path.name} (if any) is left "
        "as it was. Free space (or fix the file system) and rerun",
    )


__all__ = [
    "OutputWriteError",
    "atomic_dir",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_parquet",
    "atomic_write_text",
]


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` if the block succeeds.

    On any exception the temporary file is removed and `path` is left untouched; a full disk
    (or quota, or read-only file system) is raised as `OutputWriteError` naming `path`.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _as_write_error(path, exc) from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _chmod_default(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise _as_write_error(path, exc) from exc
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 `text` to `path` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Write `obj` as stable, human-readable JSON (sorted keys, trailing newline)."""
    text = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def atomic_write_parquet(path: str | Path, table: Any) -> Path:
    """Write a pandas DataFrame or pyarrow Table to parquet atomically, without the pandas index.

    Output is byte-for-byte reproducible for the same rows and library versions.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not isinstance(table, pa.Table):
        table = pa.Table.from_pandas(table, preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return Path(path)


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder; on success it replaces `path` as a whole.

    The swap is two renames (old out of the way, new in place), so a crash between them leaves
    the old folder under `<name>.old-*` beside the target rather than a half-written one.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as exc:
        raise _as_write_error(path, exc) from exc
    try:
        yield tmp
        _chmod_default(tmp, directory=True)
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
            old.rmdir()
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        raise _as_write_error(path, exc) from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
