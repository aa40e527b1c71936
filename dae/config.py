"""OmegaConf resolvers used by the configs in conf/ (registered when ``dae`` is imported)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from omegaconf import OmegaConf

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def unique_dir(path: str) -> str:
    """Claim a fresh folder: ``path`` itself, or ``path_1``, ``path_2``, ... if taken.

    ``mkdir`` either creates the folder or fails, so two jobs started in the same
    second never share (or overwrite) one. Cached per config, like ``${now:...}``.
    """
    base = Path(path)
    candidate, n = base, 0
    while True:
        try:
            candidate.mkdir(parents=True, exist_ok=False)
            return str(candidate)
        except FileExistsError:
            n += 1
            candidate = base.with_name(f"{base.name}_{n}")


# Overrides that say where things are, not what is trained: left out of job folder names.
UNNAMED_PREFIXES = ("paths.", "data.source.", "hydra.", "resume")
MAX_DIRNAME = 120


def job_dirname(overrides: list[str]) -> str:
    """A sweep job's folder name from its overrides, e.g. ``loss=l1,noise=gaussian``.

    Like Hydra's ``override_dirname`` (sorted ``key=value`` pairs), but group choices
    (``loss=l1``) come before values (``noise.sigma=0.3``), the location overrides above
    are left out, ``/`` is replaced, and past ``MAX_DIRNAME`` characters the name is cut
    and ends in a hash, so it is always a valid folder name that starts with the main axes.
    """
    kept = sorted((o for o in overrides if not o.lstrip("+~").startswith(UNNAMED_PREFIXES)), key=lambda o: ("." in o.split("=")[0], o))
    name = ",".join(kept).replace("/", "_") or "default"
    if len(name) > MAX_DIRNAME:
        name = f"{name[: MAX_DIRNAME - 9]}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"
    return name


def register() -> None:
    OmegaConf.register_new_resolver("dae.root", lambda: str(PROJECT_ROOT), replace=True)
    OmegaConf.register_new_resolver("dae.unique_dir", unique_dir, use_cache=True, replace=True)
    OmegaConf.register_new_resolver("dae.job_dirname", lambda overrides: job_dirname(list(overrides)), replace=True)
