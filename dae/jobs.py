"""Finding and reloading finished jobs: a job folder is what ``python -m dae.train`` leaves behind.

A job folder is data, possibly received from someone else: its ``.hydra/config.yaml`` names the
classes that rebuild the model, the data and the rest, and Hydra would build whatever it names. So
before anything is built, every ``_target_`` in the parts a tool rebuilds is checked against
:data:`ALLOWED_TARGETS`: classes of this project, ``torch.nn``, ``torch.optim`` and Lightning. Your
own modules (a study's LightningModule subclass, say) join them only by your say, never the folder's:
``DAE_TRUSTED_MODULES=augment,latent_match python -m dae.probe run=...``.
"""

from __future__ import annotations

import importlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from hydra.utils import instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from dae.errors import ConfigError


class JobError(ConfigError):
    """A path that is not a usable job folder or checkpoint."""


# Module prefixes whose classes a job folder may name; what conf/ needs is among them.
ALLOWED_TARGETS = ("dae.", "torch.nn.", "torch.optim.", "lightning.pytorch.")
# The resolvers a job config may call: conf/'s own; others (oc.create, dae.unique_dir, ...) build or write things.
ALLOWED_RESOLVERS = ("oc.env", "oc.select", "dae.cwd", "dae.root", "dae.fast_precision", "dae.ddp_strategy")
# The parts of a job's config that the tools rebuild (evaluate, probe, denoise, report, baselines).
REBUILT = ("model", "loss", "noise", "data", "classifier")


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
            raise JobError(f"{where}: {key} cannot be resolved ({type(e).__name__}: {str(e).splitlines()[0][:200]}).") from None
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


@dataclass
class Job:
    folder: Path
    cfg: DictConfig  # the job's own config, with paths.output_dir set to its folder

    @property
    def overrides(self) -> list[str]:
        path = self.folder / ".hydra" / "overrides.yaml"
        return list(yaml.safe_load(path.read_text()) or []) if path.is_file() else []

    @property
    def name(self) -> str:
        return ",".join(self.overrides) or "default"

    @property
    def precision(self) -> str:
        """The trainer precision the job ran at (``bf16-mixed``, ``32-true``...): evaluate it at the same.
        Recorded in ``metrics.json`` when it finished; else its config's, as resolved where it is read."""
        recorded = read_json(self.folder / "metrics.json").get("precision")
        if recorded:
            return str(recorded)
        return str(OmegaConf.select(self.cfg, "trainer.precision", default="32-true"))

    def checkpoint(self) -> Path:
        """The best checkpoint by ``val/psnr`` if there is one, else ``last.ckpt``."""
        folder = self.folder / "checkpoints"
        candidates = sorted(folder.glob("best-*.ckpt")) + [folder / "last.ckpt"]
        for path in candidates:
            if path.is_file():
                return path
        raise JobError(
            f"{self.folder} has no checkpoint (looked for {folder}/best-*.ckpt and last.ckpt): the run saved none (fast_dev_run?) or was stopped before its first epoch ended; train it again or pass ckpt=<a checkpoint>."
        )


def read_json(path: Path) -> dict:
    """A job's JSON file as a dict; {} if it is not there; a :class:`JobError` naming it if it cannot be read."""
    if not path.exists():
        return {}
    try:
        content = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise JobError(f"{path} cannot be read ({type(e).__name__}: {str(e).splitlines()[0][:120]})") from None
    if not isinstance(content, dict):
        raise JobError(f"{path} cannot be read (a JSON {type(content).__name__}, not an object)")
    return content


def is_job(folder: Path) -> bool:
    return (folder / ".hydra" / "config.yaml").is_file() and (folder / ".hydra" / "hydra.yaml").is_file()


def is_sweep(folder: Path) -> bool:
    return (folder / "multirun.yaml").is_file()


def sweep_jobs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and is_job(p))


def latest_job(log_dir: str | Path) -> Path:
    """The most recently started training job under ``log_dir`` (runs and sweeps)."""
    jobs = [p.parent.parent for p in Path(log_dir).glob("**/.hydra/config.yaml") if (p.parent.parent / "checkpoints").is_dir()]
    if not jobs:
        raise JobError(f"no training job under {log_dir}: run `python -m dae.train` first, or pass run=<job folder>.")
    return max(jobs, key=lambda p: (p / ".hydra" / "config.yaml").stat().st_mtime)


def load_job(folder: str | Path, key: str = "run", rebuilt: tuple[str, ...] | None = REBUILT) -> Job:
    """Read a job folder's saved config; raise :class:`JobError` if it is not a training job folder, or
    if the parts ``rebuilt`` (all of it if None, as ``resume=`` rebuilds it all) name code they may not
    (:func:`seal`). The job's data source reads the files already in its data directory: a job folder
    never makes a tool download anything."""
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise JobError(
            f"{key}={folder} does not exist; expected a job folder such as outputs/runs/<time> or outputs/multirun/<time>/<overrides>."
        )
    if not is_job(folder):
        hint = " It is a sweep folder: this command wants one of its jobs." if is_sweep(folder) else ""
        raise JobError(
            f"{key}={folder} is not a job folder: it has no .hydra/config.yaml.{hint} Pass a folder written by `python -m dae.train`."
        )
    try:
        cfg = OmegaConf.load(folder / ".hydra" / "config.yaml")
    except (OSError, yaml.YAMLError, OmegaConfBaseException) as e:
        raise JobError(f"{key}={folder}: .hydra/config.yaml cannot be read ({type(e).__name__}: {str(e).splitlines()[0][:200]}).") from None
    parts = ("model", "data", "paths")
    if not isinstance(cfg, DictConfig) or not all(name in cfg and isinstance(cfg._get_node(name), DictConfig) for name in parts):
        raise JobError(f"{key}={folder} is a Hydra job, but not a training job (its config has no model, data or paths section).")
    with open_dict(cfg):
        cfg.paths.output_dir = str(folder)
        upgrade(cfg)
        seal(cfg, rebuilt, where=f"{key}={folder}")
        source = OmegaConf.select(cfg, "data.source")
        if isinstance(source, DictConfig):
            source.mirrors, source.package_index = [], None
    return Job(folder, cfg)


def upgrade(cfg: DictConfig) -> None:
    """A job config written by dae 0.1 in the keys of this version. Its LightningModule then was what
    ``GraphedDenoiser`` is now (``model.cuda_graph`` chose its CUDA-graph steps on a GPU), so a job resumes
    as it trained; the VAE's ``beta`` and ``warmup_steps`` move from ``model.net`` to its own module."""
    model = cfg.model
    if model.get("_target_") != "dae.denoiser.Denoiser" or not isinstance(model.get("net"), DictConfig):
        return
    if model.net.get("_target_") == "dae.models.VariationalAutoencoder":
        model.pop("cuda_graph", None)
        model._target_ = "dae.variational.VariationalDenoiser"
        for name in ("beta", "warmup_steps"):
            if name in model.net:
                model[name] = model.net.pop(name)
    elif "cuda_graph" in model:  # dae 0.1's Denoiser with its cuda_graph switch is GraphedDenoiser, with the same switch
        model._target_ = "dae.speedups.cuda_graphs.GraphedDenoiser"


def job_of_checkpoint(ckpt: str | Path) -> Path:
    """The job folder a checkpoint belongs to (``<job>/checkpoints/<file>.ckpt``)."""
    ckpt = Path(ckpt).expanduser().resolve()
    if not ckpt.is_file():
        raise JobError(f"ckpt={ckpt} does not exist; expected a .ckpt file in a job's checkpoints/ folder.")
    return ckpt.parent.parent


def target(run: str | None, ckpt: str | None, log_dir: str | Path) -> Path:
    """The folder a command works on: ``run``, else the job of ``ckpt``, else the latest job."""
    if run:
        return Path(run).expanduser().resolve()
    if ckpt:
        return job_of_checkpoint(ckpt)
    return latest_job(log_dir)


def load_model(job: Job, ckpt: str | Path | None = None) -> torch.nn.Module:
    """The job's LightningModule, rebuilt from its config, with the checkpoint's weights (eval mode, CPU)."""
    cfg = job.cfg
    path = Path(ckpt) if ckpt else job.checkpoint()
    model = instantiate(cfg.model, loss=instantiate(cfg.loss), scheduler=None)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        weights = state["state_dict"]
    except Exception as e:
        raise JobError(
            f"ckpt={path} could not be read as a Lightning checkpoint ({type(e).__name__}: {str(e).splitlines()[0][:200]}); expected a .ckpt written by `python -m dae.train`."
        ) from None
    expected, got = set(model.state_dict()), set(weights)
    if expected != got:
        missing, extra = sorted(expected - got)[:3], sorted(got - expected)[:3]
        raise JobError(
            f"ckpt={path} does not fit this job's model ({cfg.model.net._target_}): missing {missing}, unexpected {extra}. "
            f"It is a checkpoint of another model; pass the checkpoint of the run in {job.folder}."
        )
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:  # same layer names, other shapes (e.g. another latent size)
        raise JobError(
            f"ckpt={path} does not fit this job's model ({cfg.model.net._target_}): {str(e).splitlines()[1].strip()[:200]} It is a checkpoint of another model; pass the checkpoint of the run in {job.folder}."
        ) from None
    return model.eval()


def build_datamodule(job: Job, noise_cfg: DictConfig | None = None, prepare: bool = True):
    """The job's data module (its dataset and noise, or ``noise_cfg``), set up."""
    cfg = job.cfg
    noise = instantiate(noise_cfg if noise_cfg is not None else cfg.noise)
    datamodule = instantiate(cfg.data, noise=noise)
    if prepare:
        datamodule.prepare_data()
        datamodule.setup()
    return datamodule
