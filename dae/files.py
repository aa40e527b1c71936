"""Writing result files so that a reader never sees half of one."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

UMASK = os.umask(0)
os.umask(UMASK)


def write_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename.

    A reader sees either the old file or the new one, never a partial write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        os.chmod(tmp, 0o666 & ~UMASK)  # mkstemp makes 0600 files; results are ordinary files
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_folder(folder: str | Path, files: dict[str, bytes]) -> Path:
    """Write ``files`` (name -> bytes) as the folder ``folder``, whole or not at all: into a fresh folder beside
    it, flushed to disk, then renamed into place (over an older ``folder``, which the caller holds a lock on).
    A failed write leaves nothing of the new folder."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".part"))
    try:
        for name, data in files.items():
            with open(tmp / name, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp / name, 0o666 & ~UMASK)
        os.chmod(tmp, 0o777 & ~UMASK)
        if folder.exists():
            shutil.rmtree(folder)
        os.rename(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def write_json(path: str | Path, obj: Any) -> Path:
    return write_atomic(path, (json.dumps(obj, indent=2) + "\n").encode())


def write_text(path: str | Path, text: str) -> Path:
    return write_atomic(path, text.encode())


def write_csv(path: str | Path, rows: Iterable[dict], columns: Sequence[str]) -> Path:
    """One line per row, ``columns`` in order (a missing value is an empty cell)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: row.get(k) for k in columns} for row in rows)
    return write_text(path, out.getvalue())


DATA_KEYS = ("paths.data_dir", "paths.cache_dir")  # folders that DAE_DATA_DIR moves


def check_folder(path: str | Path, key: str, writable: bool = False, needed: int = 0) -> Path:
    """``path`` as a folder that can be made: a :class:`~dae.errors.ConfigError` naming ``key``, before any work is
    done, if it or a folder above it is a file (``DAE_DATA_DIR=<a file>``) or a part of it is longer than file
    systems allow (255 bytes); with ``writable``, if the folder (or the nearest one above it that exists) cannot be
    written to; with ``needed`` (bytes), if its file system has less free space."""
    from dae.errors import ConfigError

    path = Path(path)
    where = f"{key} (or DAE_DATA_DIR)" if key in DATA_KEYS else key
    for part in path.parts:
        if len(part.encode()) > 255:
            raise ConfigError(
                f"{key}={path}: the part {part[:40]}... is {len(part.encode())} bytes long; file systems allow 255: use a shorter name."
            )
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise ConfigError(f"{key}={path}: {existing} is a file, not a folder; point {where} at a folder.")
    if writable and not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{key}={path}: {existing} cannot be written to (read-only); point {where} at a folder you can write to.")
    if needed and (free := shutil.disk_usage(existing).free) < needed:
        raise ConfigError(
            f"{key}={path}: {free / 1e6:.1f} MB free on its disk, and {needed / 1e6:.1f} MB are needed; free space there, "
            f"or point {where} at another disk."
        )
    return path


def make_folder(path: str | Path, key: str, exist_ok: bool = True) -> Path:
    """Create the folder ``path`` (and those above it), or raise a :class:`~dae.errors.ConfigError` naming ``key``,
    the folder and why (read-only, a name too long, a file in the way), before any work."""
    from dae.errors import ConfigError, summary

    path = check_folder(path, key, writable=True)
    try:
        path.mkdir(parents=True, exist_ok=exist_ok)
    except FileExistsError:
        raise
    except OSError as e:
        raise ConfigError(f"{key}={path} cannot be made ({summary(e)}); point {key} at a folder you can write to.") from None
    return path
