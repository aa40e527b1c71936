"""Finding and reading job folders: a job folder is what ``python -m dae.train`` leaves behind, a sweep
folder holds one job folder per combination of its overrides.

Reading a job's config upgrades it to this version's keys (:mod:`dae.upgrades`) and checks what it may
build (:mod:`dae.trust`); rebuilding its model is :mod:`dae.loading`'s work.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from dae.errors import JobError, summary
from dae.trust import seal
from dae.upgrades import upgrade

log = logging.getLogger(__name__)

# The parts of a job's config that the tools rebuild (evaluate, probe, denoise, report, baselines).
REBUILT = ("model", "loss", "noise", "data", "classifier")


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
        raise JobError(f"{path} cannot be read ({summary(e, limit=120)})") from None
    if not isinstance(content, dict):
        raise JobError(f"{path} cannot be read (a JSON {type(content).__name__}, not an object)")
    return content


def is_job(folder: Path) -> bool:
    return (folder / ".hydra" / "config.yaml").is_file() and (folder / ".hydra" / "hydra.yaml").is_file()


def is_sweep(folder: Path) -> bool:
    return (folder / "multirun.yaml").is_file()


def sweep_jobs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and is_job(p))


def finished_jobs(folder: Path) -> list[Path]:
    """``folder`` itself if it is not a sweep; else its jobs that finished (``metrics.json``), each one skipped said in the log."""
    if not (folder.is_dir() and is_sweep(folder)):
        return [folder]
    finished = []
    for job in sweep_jobs(folder):
        if (job / "metrics.json").is_file():
            finished.append(job)
        else:
            log.warning("%s: skipped (the job did not finish)", job)
    return finished


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
        raise JobError(f"{key}={folder}: .hydra/config.yaml cannot be read ({summary(e)}).") from None
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
