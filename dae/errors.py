"""The project's own error types, in one place, and the checks of a setting's type that name it.

Each error's message names the bad value, what was expected and the fix; the command-line tools print
it as one line (dae.cli). Library code raises them too, so a caller can catch the project's errors
apart from a library's own."""

from __future__ import annotations


class ConfigError(ValueError):
    """A setting (a config value, a path, a command-line argument) that cannot work: the message names
    the value, what is allowed and the fix. The command-line tools print it as one line (dae.cli)."""


class JobError(ConfigError):
    """A path that is not a usable job folder, or a checkpoint that does not belong to one."""


class ModelFileError(ConfigError):
    """A trained model that cannot be loaded or exported: a pretrained folder, an exported file or an
    export's output path, named with what was expected."""


class DataError(RuntimeError):
    """The dataset is missing, incomplete or not the expected one. Training must not start."""


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (disk full, file too large, quota): the previous one is kept."""


def first_line(error: BaseException, index: int = 0, limit: int = 200) -> str:
    """Line ``index`` of an exception's message (the last one if it has fewer), cut to ``limit`` characters, or
    its type's name if the message is empty: what an error message quotes of another error, without raising."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[min(index, len(lines) - 1)][:limit] if lines else type(error).__name__


def summary(error: BaseException, limit: int = 200) -> str:
    """``<type>: <first line>`` of an exception, or its type's name alone if its message is empty: how an error
    message quotes another error, without raising and without an empty quote."""
    line = first_line(error, limit=limit)
    return line if not str(error).strip() else f"{type(error).__name__}: {line}"


def integer(key: str, value) -> int:
    """``value`` if it is an integer, else a :class:`ConfigError` naming ``key`` and the type expected."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key}={value!r} is not an integer; set {key}=<an integer>.")
    return value


def number(key: str, value) -> float:
    """``value`` as a float if it is a number, else a :class:`ConfigError` naming ``key`` and the type expected."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{key}={value!r} is not a number; set {key}=<a number>.")
    return float(value)
