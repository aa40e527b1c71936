"""What the command-line tools share: the project's own errors printed as one line, and the arguments
that Hydra would misread.

A tool's error that names a bad value and its fix (a :class:`~dae.jobs.JobError`, a
:class:`~dae.data.DataError`, a config ``ValueError``, a checkpoint that could not be written, a
non-finite loss) ends the command with that one line, ``error: ...``, and exit status 1, instead of a
traceback. ``--verbose`` (or ``HYDRA_FULL_ERROR=1``) shows the traceback.
"""

from __future__ import annotations

import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

from dae.checkpoint_io import CheckpointWriteError
from dae.data import DataError

# Errors the project raises with a message that says what is wrong and how to fix it (JobError is a ValueError).
USER_ERRORS = (ValueError, DataError, CheckpointWriteError, FloatingPointError)
PATH_KEYS = ("run", "ckpt", "resume", "input", "output")
STARTED = time.time()  # when this command started (dae.cli is imported at its start)


def verbose() -> bool:
    return os.environ.get("HYDRA_FULL_ERROR") == "1"


def prepare_argv(argv: list[str]) -> list[str]:
    """The command line for Hydra's parser: ``--verbose`` becomes ``HYDRA_FULL_ERROR=1`` (full tracebacks),
    and ``run=<path>`` style values are quoted, since sweep job folders are named like ``loss=l1`` and an
    unquoted ``=`` inside a value is a syntax error to Hydra."""
    out = []
    for arg in argv:
        if arg == "--verbose":
            os.environ["HYDRA_FULL_ERROR"] = "1"
            continue
        key, sep, value = arg.partition("=")
        if sep and key in PATH_KEYS and "=" in value and value[:1] not in "'\"":
            arg = f"{key}='{value}'"
        out.append(arg)
    return out


def user_error(error: BaseException) -> BaseException | None:
    """The project's own error in ``error`` or what caused it (Hydra wraps errors raised while building objects)."""
    while error is not None:
        if isinstance(error, USER_ERRORS):
            return error
        error = error.__cause__
    return None


def only_setup(folder: Path) -> bool:
    """Whether a job folder holds nothing but what Hydra wrote for this command before the job started:
    ``.hydra/`` and logs, all written since the command started, in a folder that is not where it runs."""
    if Path.cwd().resolve().is_relative_to(folder.resolve()):
        return False
    files = [p for p in folder.rglob("*") if p.is_file()]
    setup = all(p.suffix == ".log" or ".hydra" in p.relative_to(folder).parts for p in files)
    return setup and all(p.stat().st_mtime >= STARTED - 1 for p in files)


@contextmanager
def one_line_errors(job_folder: str | Path | None = None):
    """Turn the project's own errors into ``error: <message>`` and exit status 1. ``job_folder``: this
    command's fresh folder, removed when the error came before anything but Hydra's set-up was written
    there (a config error leaves no empty job folder behind)."""
    try:
        yield
    except Exception as error:
        found = user_error(error)
        if found is None or verbose():
            raise
        if job_folder is not None and Path(job_folder).is_dir() and only_setup(Path(job_folder)):
            shutil.rmtree(job_folder, ignore_errors=True)
        message = str(found).strip() or type(found).__name__
        raise SystemExit(f"error: {message}") from None
