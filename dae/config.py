"""OmegaConf resolvers used by the configs in conf/ (registered when ``dae`` is imported)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from omegaconf import OmegaConf

from dae.errors import ConfigError
from dae.files import make_folder


def unique_dir(path: str) -> str:
    """Claim a fresh folder: ``path`` itself, or ``path_1``, ``path_2``, ... if taken.

    ``mkdir`` either creates the folder or fails, so two jobs started in the same
    second never share (or overwrite) one. Cached per config, like ``${now:...}``.
    """
    base = Path(path)
    candidate, n = base, 0
    while True:
        try:
            make_folder(candidate, "paths.log_dir", exist_ok=False)  # one line for a read-only or impossible folder
            return str(candidate)
        except FileExistsError:
            n += 1
            candidate = base.with_name(f"{base.name}_{n}")


# Overrides that say where things are, not what is trained: left out of job folder names.
UNNAMED_PREFIXES = ("paths.", "data.source.", "hydra.", "resume")
MAX_DIRNAME = 120
SWEPT_KEYS = "DAE_SWEPT_KEYS"  # the keys a sweep varies, comma-separated: set by dae.sweep.SweepSummary for its jobs


def job_dirname(overrides: list[str], swept: list[str] | None = None) -> str:
    """A sweep job's folder name from its overrides, e.g. ``loss=l1,noise=gaussian``.

    Like Hydra's ``override_dirname`` (sorted ``key=value`` pairs), but the keys the sweep varies come first
    (``$DAE_SWEPT_KEYS``, in the sweep's order), then group choices (``loss=l1``), then values
    (``noise.sigma=0.3``); the location overrides above are left out, ``/`` is replaced, and past ``MAX_DIRNAME``
    characters the name is cut and ends in a hash, so it is always a valid folder name that starts with what
    tells the sweep's jobs apart.
    """
    if swept is None:
        swept = [k for k in os.environ.get(SWEPT_KEYS, "").split(",") if k]

    def order(override: str) -> tuple:
        key = override.split("=")[0].lstrip("+~")
        return (swept.index(key) if key in swept else len(swept), "." in key, key, override)

    kept = sorted((o for o in overrides if not o.lstrip("+~").startswith(UNNAMED_PREFIXES)), key=order)
    name = ",".join(kept).replace("/", "_") or "default"
    if len(name) > MAX_DIRNAME:
        name = f"{name[: MAX_DIRNAME - 9]}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"
    return name


def fast_precision(accelerator: str = "auto") -> str:
    """``bf16-mixed`` where the device computes bfloat16 natively (a CPU with AVX512-BF16 or AMX,
    a CUDA GPU that supports it: Ampere or newer), else ``32-true``. Emulated bfloat16 is slower
    than float32, so the choice is made per machine; the job's config records the one made."""
    import torch

    use_cuda = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    if use_cuda:
        native = torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    else:
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # torch's own CPU feature checks
        native = any(getattr(torch.cpu, name, lambda: False)() for name in checks)
    return "bf16-mixed" if native else "32-true"


def ddp_strategy() -> str:
    """``ddp`` in a single run: Lightning starts one process per device by running the command line
    again, the fastest way. Inside a Hydra multirun that command line would start the whole sweep
    again, so there it is ``ddp_spawn``: the processes are spawned from the job itself. Under SLURM with
    several tasks (``hydra.launcher.tasks_per_node=2``) the processes exist already, one per task, and
    Lightning takes their ranks from SLURM: ``ddp``, which then starts none."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if int(os.environ.get("SLURM_NTASKS", "1")) > 1:
        return "ddp"
    multirun = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    return "ddp_spawn" if multirun else "ddp"


def run_dir(resume: str | None, default: str) -> str:
    """The job folder of a single run: the folder being resumed (``resume=<job folder>``), or a
    fresh one claimed with :func:`unique_dir`."""
    if not resume:
        return unique_dir(default)
    folder = Path(resume).expanduser().resolve()
    if not folder.is_dir():  # checked here, before Hydra would create it as the run's folder
        raise ConfigError(f"resume={folder} does not exist; expected the job folder of an interrupted run, such as outputs/runs/<time>.")
    return str(folder)


def unless(value: object, default: object) -> object:
    """``default``, or None when ``value`` is set (e.g. no new ``.hydra/`` when resuming)."""
    return None if value else default


def register() -> None:
    OmegaConf.register_new_resolver("dae.cwd", os.getcwd, replace=True)
    OmegaConf.register_new_resolver("dae.root", os.getcwd, replace=True)  # in job folders written by dae 0.1
    OmegaConf.register_new_resolver("dae.unique_dir", unique_dir, use_cache=True, replace=True)
    OmegaConf.register_new_resolver("dae.run_dir", run_dir, use_cache=True, replace=True)
    OmegaConf.register_new_resolver("dae.unless", unless, replace=True)
    OmegaConf.register_new_resolver("dae.ddp_strategy", ddp_strategy, replace=True)
    OmegaConf.register_new_resolver("dae.fast_precision", fast_precision, use_cache=True, replace=True)
    OmegaConf.register_new_resolver("dae.job_dirname", lambda overrides: job_dirname(list(overrides)), replace=True)
