"""Finding and reloading finished jobs: a job folder is what ``python -m dae.train`` leaves behind."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict


class JobError(ValueError):
    """A path that is not a usable job folder or checkpoint."""


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
        Recorded in ``metrics.json`` when it finished; else its config's, as resolved on this machine."""
        metrics = self.folder / "metrics.json"
        if metrics.is_file():
            recorded = json.loads(metrics.read_text()).get("precision")
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
        raise JobError(f"{self.folder} has no checkpoint (looked for {folder}/best-*.ckpt and last.ckpt): the run saved none (fast_dev_run?) or was stopped before its first epoch ended; train it again or pass ckpt=<a checkpoint>.")


def quote_path_overrides(argv: list[str], keys: tuple[str, ...] = ("run", "ckpt", "resume")) -> list[str]:
    """Quote ``run=<path>`` style arguments for Hydra's parser: sweep job folders are named like
    ``loss=l1``, and an unquoted ``=`` inside a value is a syntax error to Hydra."""
    out = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key in keys and "=" in value and value[:1] not in "'\"":
            arg = f"{key}='{value}'"
        out.append(arg)
    return out


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


def load_job(folder: str | Path, key: str = "run") -> Job:
    """Read a job folder's saved config; raise :class:`JobError` if it is not a training job folder."""
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise JobError(f"{key}={folder} does not exist; expected a job folder such as outputs/runs/<time> or outputs/multirun/<time>/<overrides>.")
    if not is_job(folder):
        hint = " It is a sweep folder: this command wants one of its jobs." if is_sweep(folder) else ""
        raise JobError(f"{key}={folder} is not a job folder: it has no .hydra/config.yaml.{hint} Pass a folder written by `python -m dae.train`.")
    cfg = OmegaConf.load(folder / ".hydra" / "config.yaml")
    if "model" not in cfg or "data" not in cfg:
        raise JobError(f"{key}={folder} is a Hydra job, but not a training job (its config has no model or data).")
    with open_dict(cfg):
        cfg.paths.output_dir = str(folder)
    return Job(folder, cfg)


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
        raise JobError(f"ckpt={path} could not be read as a Lightning checkpoint ({type(e).__name__}: {str(e).splitlines()[0][:200]}); expected a .ckpt written by `python -m dae.train`.") from None
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
        raise JobError(f"ckpt={path} does not fit this job's model ({cfg.model.net._target_}): {str(e).splitlines()[1].strip()[:200]} It is a checkpoint of another model; pass the checkpoint of the run in {job.folder}.") from None
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
