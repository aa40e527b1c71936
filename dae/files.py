"""Writing result files so that a reader never sees half of one."""

from __future__ import annotations

import csv
import io
import json
import os
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


def check_folder(path: str | Path, key: str) -> Path:
    """``path`` as a folder that can be made: a :class:`~dae.errors.ConfigError` naming ``key`` if it, or a folder
    above it, is a file (``DAE_DATA_DIR=<a file>``), before any work is done."""
    from dae.errors import ConfigError

    path = Path(path)
    for part in (path, *path.parents):
        if part.exists():
            if not part.is_dir():
                raise ConfigError(f"{key}={path}: {part} is a file, not a folder; point {key} (or DAE_DATA_DIR) at a folder.")
            break
    return path
