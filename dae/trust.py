"""The trust checks for a job folder: which code its saved config may make Hydra build.

A job folder is data, possibly received from someone else: its ``.hydra/config.yaml`` names the
classes that rebuild the model, the data and the rest, and Hydra would build whatever it names. So
before anything is built, every ``_target_`` in the parts a tool rebuilds is checked against
:data:`ALLOWED_TARGETS`: classes of this project, ``torch.nn``, ``torch.optim`` and Lightning. Your
own modules (a study's LightningModule subclass, say) join them only by your say, never the folder's:
``DAE_TRUSTED_MODULES=augment,latent_match python -m dae.probe run=...``.
"""

from __future__ import annotations

import importlib
import os
import re

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from dae.errors import JobError, summary

# Module prefixes whose classes a job folder may name; what conf/ needs is among them.
ALLOWED_TARGETS = ("dae.", "torch.nn.", "torch.optim.", "lightning.pytorch.")
# The resolvers a job config may call: conf/'s own; others (oc.create, dae.unique_dir, ...) build or write things.
ALLOWED_RESOLVERS = ("oc.env", "oc.select", "dae.cwd", "dae.root", "dae.fast_precision", "dae.ddp_strategy")


def allowed_modules() -> tuple[str, ...]:
    """:data:`ALLOWED_TARGETS` and the modules named in ``DAE_TRUSTED_MODULES`` (comma-separated)."""
    trusted = (name.strip().rstrip(".") for name in os.environ.get("DAE_TRUSTED_MODULES", "").split(","))
    return ALLOWED_TARGETS + tuple(f"{name}." for name in trusted if name)


def allowed_class(target: str) -> bool:
    """Whether ``target`` names a class defined in an allowed module: no function (``dae.files.write_text``),
    and no class that an allowed module merely imported (``dae.data.source.subprocess.Popen``)."""
    modules = allowed_modules()
    if not isinstance(target, str) or not target.startswith(modules):
        return False
    parts = target.split(".")
    for split in range(len(parts) - 1, 0, -1):  # the longest importable module, then attributes
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for name in parts[split:]:
            obj = getattr(obj, name, None)
        return isinstance(obj, type) and f"{obj.__module__}.".startswith(modules)
    return False


def seal(cfg: DictConfig, keys: tuple[str, ...] | None, where: str) -> None:
    """Check the parts ``keys`` of a job config (all of it if None) and put each back resolved, so that
    what is built is what was checked: every interpolation in the config may only call
    :data:`ALLOWED_RESOLVERS`, and every ``_target_`` of the resolved parts must be an allowed class.
    Raises :class:`JobError` naming the key, before anything is built."""
    for path, value in _leaves(OmegaConf.to_container(cfg, resolve=False), ""):
        for resolver in re.findall(r"\$\{\s*([\w.\-]+)\s*:", value) if isinstance(value, str) else ():
            if resolver not in ALLOWED_RESOLVERS:
                raise JobError(
                    f"{where}: {path}={value} calls the resolver {resolver}, which a job folder may not use; refusing to build it (nothing was built)."
                )
    for key in keys if keys is not None else list(cfg):
        if key not in cfg:
            continue
        try:
            resolved = OmegaConf.to_container(cfg[key], resolve=True) if isinstance(cfg[key], (DictConfig, ListConfig)) else cfg[key]
        except OmegaConfBaseException as e:
            raise JobError(f"{where}: {key} cannot be resolved ({summary(e)}).") from None
        targets = [(path.removesuffix("._target_"), value) for path, value in _leaves(resolved, key) if path.endswith("._target_")]
        for path, target in targets:
            if not allowed_class(target):
                raise JobError(
                    f"{where}: {path}._target_={target} is not allowed: a job folder may only name classes of dae, "
                    f"torch.nn, torch.optim or lightning.pytorch, or of modules you trust with DAE_TRUSTED_MODULES=<module>; "
                    f"refusing to build it (nothing was built)."
                )
        cfg[key] = resolved


def _leaves(node, path: str):
    """``(path, value)`` of every value in a plain container."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _leaves(value, f"{path}[{i}]")
    else:
        yield path, node
