"""The project's own error for a bad setting, and the checks of a setting's type that name it."""

from __future__ import annotations


class ConfigError(ValueError):
    """A setting (a config value, a path, a command-line argument) that cannot work: the message names
    the value, what is allowed and the fix. The command-line tools print it as one line (dae.cli)."""


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
