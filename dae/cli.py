"""What the command-line tools share: the project's own errors printed as one line, and the arguments
that Hydra would misread.

A tool's error that names a bad value and its fix (a :class:`~dae.errors.ConfigError`, among them a
:class:`~dae.errors.JobError`; a :class:`~dae.errors.DataError`; a checkpoint that could not be written; a
non-finite loss) ends the command with that one line, ``error: ...``, and exit status 1, instead of a
traceback; any other error keeps its traceback. ``--verbose`` (or ``HYDRA_FULL_ERROR=1``) shows the
traceback of every error. A command stopped by SIGTERM exits with status 143. A command that fails
before writing anything but its set-up (``.hydra/``, its log, an event file) leaves no job folder behind.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from contextlib import contextmanager
from fnmatch import fnmatch
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf.errors import InterpolationResolutionError

from dae.errors import CheckpointWriteError, ConfigError, DataError

# Errors the project raises with a message that says what is wrong and how to fix it (JobError is a ConfigError).
USER_ERRORS = (ConfigError, DataError, CheckpointWriteError, FloatingPointError)
PATH_KEYS = ("run", "ckpt", "resume", "input", "output", "hydra.run.dir", "hydra.sweep.dir")  # values that are paths
PATH_PREFIXES = ("paths.",)  # paths.data_dir=..., paths.log_dir=...
PATH_LIST_KEYS = ("runs",)  # lists of such paths (dae.baselines)
SETUP_FILES = (".hydra/config.yaml", ".hydra/hydra.yaml", ".hydra/overrides.yaml")
SETUP_EVENTS = "events.out.tfevents.*"  # TensorBoard's file, opened with the run's hyperparameters before the data is read
STARTED = time.time()  # when this command started (dae.cli is imported at its start)


def verbose() -> bool:
    return os.environ.get("HYDRA_FULL_ERROR") == "1"


def _needs_quotes(value: str) -> bool:
    """Whether Hydra's override parser would misread ``value`` unquoted: an ``=``, or a character its lexer has no
    token for (any non-ASCII letter, ``#``, ``~``, parentheses)."""
    return any(c == "=" or c in "#~()" or ord(c) > 127 for c in value)


def _quoted(value: str) -> str:
    """``value`` in Hydra's quotes, unless it is quoted already or needs none (:func:`_needs_quotes`)."""
    if not _needs_quotes(value) or value[:1] in "'\"":
        return value
    quote = '"' if "'" in value else "'"
    return f"{quote}{value}{quote}"


def prepare_argv(argv: list[str]) -> list[str]:
    """The command line for Hydra's parser: ``--verbose`` becomes ``HYDRA_FULL_ERROR=1`` (full tracebacks),
    and path values are quoted where Hydra would misread them (``run=<path>``, ``hydra.run.dir=<path>``,
    ``paths.*=<path>``, each of ``runs=[<path>,...]``): sweep job folders are named like ``loss=l1``, and an
    unquoted ``=``, a non-ASCII letter (``hydra.run.dir=outputs/café``) or a ``#`` is a syntax error to Hydra."""
    out = []
    for arg in argv:
        if arg == "--verbose":
            os.environ["HYDRA_FULL_ERROR"] = "1"
            continue
        key, sep, value = arg.partition("=")
        if sep and (key.lstrip("+") in PATH_KEYS or key.lstrip("+").startswith(PATH_PREFIXES)):
            arg = f"{key}={_quoted(value)}"
        elif sep and key in PATH_LIST_KEYS and re.fullmatch(r"\[.*\]", value):
            items = [item.strip() for item in value[1:-1].split(",") if item.strip()]
            arg = f"{key}=[{','.join(_quoted(item) for item in items)}]"
        out.append(arg)
    return out


def user_error(error: BaseException) -> BaseException | None:
    """The project's own error in ``error`` or what caused it (Hydra wraps errors raised while building objects,
    OmegaConf those raised by a resolver, as the context of its own)."""
    while error is not None:
        if isinstance(error, USER_ERRORS):
            return error
        error = error.__cause__ or (error.__context__ if isinstance(error, InterpolationResolutionError) else None)
    return None


def discard_setup(folder: str | Path) -> None:
    """Remove ``folder`` if it holds nothing but what this command wrote there while setting up: ``.hydra/``'s
    three files, the job's log and TensorBoard's event file, written since the command started. Never the
    folder the command runs in, nor one with anything else in it (a checkpoint: the run had started)."""
    folder = Path(folder)
    if not folder.is_dir() or folder.is_symlink() or Path.cwd().resolve().is_relative_to(folder.resolve()):
        return
    names = set(SETUP_FILES)
    if HydraConfig.initialized():
        names.add(f"{HydraConfig.get().job.name}.log")
    entries = list(folder.rglob("*"))
    files = [p for p in entries if not p.is_dir() or p.is_symlink()]
    dirs = [p for p in entries if p.is_dir() and not p.is_symlink()]

    def ours(p: Path) -> bool:
        name = p.relative_to(folder).as_posix()
        return (name in names or fnmatch(name, SETUP_EVENTS)) and not p.is_symlink() and p.stat().st_mtime >= STARTED - 1

    if not all(ours(p) for p in files):
        return
    if any(d.relative_to(folder).as_posix() != ".hydra" for d in dirs):
        return
    for path in files:
        path.unlink()
    for empty in (*dirs, folder):
        empty.rmdir()


def lightning_sigterm(stop: SystemExit) -> bool:
    """Whether ``stop`` is Lightning's SIGTERMException (a SystemExit with status 0). Looked up, not imported:
    only a process that imported Lightning can raise it, and the commands' error paths stay free of its import."""
    exceptions = sys.modules.get("lightning.pytorch.utilities.exceptions")
    return exceptions is not None and isinstance(stop, exceptions.SIGTERMException)


@contextmanager
def one_line_errors(job_folder: str | Path | None = None):
    """Turn the project's own errors into ``error: <message>`` and exit status 1, and a SIGTERM into exit
    status 143. ``job_folder``: this command's fresh folder, emptied of Hydra's set-up and removed when
    the command fails before writing anything else there (:func:`discard_setup`)."""
    try:
        yield
    except SystemExit as stop:
        if not lightning_sigterm(stop):
            raise
        raise SystemExit(128 + signal.SIGTERM) from None
    except Exception as error:
        if job_folder is not None:
            discard_setup(job_folder)
        found = user_error(error)
        if found is None or verbose():
            raise
        message = str(found).strip() or type(found).__name__
        raise SystemExit(f"error: {message}") from None
