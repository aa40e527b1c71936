"""Sweeps that survive a failing job, and that can be resumed.

In a sweep (``-m``), a job that raises writes ``error.txt`` into its folder (the error on the first
line, then the traceback) and returns, so the launcher goes on with the others; at the end,
:class:`SweepSummary` (a Hydra callback, conf/hydra/default.yaml) prints one line naming the failed
jobs and exits with status 1. A single run (no ``-m``) raises as usual.

``python -m dae.train -m resume=<sweep folder>`` launches the sweep again from its own ``multirun.yaml`` (its
overrides and launcher, :func:`resume_argv`): each job that finished is skipped, a killed one continues from its
``last.ckpt``, and one that failed or never started runs again (:func:`resumed_job`). A SLURM job that is
requeued (preempted, or past its time limit: submitit requeues it) does the same with its own folder.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import traceback
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from dae.cli import one_line_errors
from dae.config import SWEPT_KEYS, job_dirname
from dae.errors import ConfigError, first_line
from dae.files import write_text
from dae.job_folder import claim_sweep, release
from dae.jobs import sweep_jobs

log = logging.getLogger(__name__)

ERROR_FILE = "error.txt"
RESUMING = "DAE_RESUME_SWEEP"  # set in a resumed sweep's jobs (hydra.job.env_set), which then skip or continue


def in_sweep() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def root_cause(error: BaseException) -> str:
    """One line for an error: its root cause (Hydra wraps errors raised while building objects);
    for an error in a spawned process (``ddp_spawn``), the last line of that process's traceback."""
    root = error
    while root.__cause__ is not None:
        root = root.__cause__
    lines = [line for line in str(root).splitlines() if line.strip()]
    if any(line.startswith("Traceback") for line in lines):
        return lines[-1].strip()
    return f"{type(root).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def record_failure(output_dir: str | Path, error: BaseException) -> Path:
    """Write ``error.txt``: the first line of the error's root cause, a blank line, the full traceback."""
    first = root_cause(error)
    path = write_text(Path(output_dir) / ERROR_FILE, first + "\n\n" + "".join(traceback.format_exception(error)))
    log.error("job failed: %s (traceback in %s)", first, path)
    return path


def failed_jobs(sweep_dir: str | Path) -> list[Path]:
    return [job for job in sweep_jobs(Path(sweep_dir)) if (job / ERROR_FILE).is_file()]


class SweepSummary(Callback):
    """Before a sweep: a SLURM launcher where SLURM is not installed is one line, before any folder is made; the
    sweep's folder is claimed (dae.job_folder.claim_sweep). After it: one line naming the failed jobs, and exit status 1 if there were any."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        launcher = str(config.hydra.launcher.get("_target_", ""))
        problem = None
        if "Slurm" in launcher and shutil.which("sbatch") is None:
            problem = (
                "hydra/launcher=submitit_slurm needs SLURM, and sbatch is not on the PATH; on a machine without SLURM run the "
                "sweep with the basic launcher (leave hydra/launcher out) or in parallel processes (hydra/launcher=joblib)."
            )
        problem = problem or search_space_problem(config)
        if problem:
            print(f"error: {problem}", file=sys.stderr, flush=True)
            raise SystemExit(1)
        resuming = RESUMING in (OmegaConf.select(config, "hydra.job.env_set") or {})
        keys = swept_keys(config)
        if resuming and not named_by(keys, Path(config.hydra.sweep.dir)):
            keys = []  # a sweep whose job folders were named before the swept keys came first: found by its old names
        os.environ[SWEPT_KEYS] = ",".join(keys)  # its jobs' folders are named by these first (dae.config.job_dirname)
        with one_line_errors():  # a SystemExit: Hydra turns a callback's other errors into warnings and goes on
            claim_sweep(config.hydra.sweep.dir, resuming)
        # Every sweep folder holds its multirun.yaml from the start (Hydra's basic sweeper writes it, the Optuna
        # sweeper does not), so that dae.report, the probe and resume=<sweep folder> know it for one.
        sweep_dir = Path(config.hydra.sweep.dir)
        if not (sweep_dir / "multirun.yaml").exists():
            sweep_dir.mkdir(parents=True, exist_ok=True)
            OmegaConf.save(config, sweep_dir / "multirun.yaml")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        release()
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        failed = failed_jobs(sweep_dir)
        total = len(sweep_jobs(sweep_dir))
        if failed:
            names = ", ".join(job.name for job in failed)
            print(f"sweep {sweep_dir}: {len(failed)} of {total} jobs failed: {names} (see error.txt in each)", file=sys.stderr, flush=True)
            raise SystemExit(1)


def swept_keys(config: DictConfig) -> list[str]:
    """The keys a sweep varies: those of its command line that hold several values (``loss=l1,mse``,
    ``noise.sigma=range(...)``), then its sweeper's search space (``hydra.sweeper.params``)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        overrides = OverridesParser.create().parse_overrides(list(config.hydra.overrides.task))
    except Exception:  # Hydra reports a bad override itself
        return []
    keys = [o.key_or_group for o in overrides if o.is_sweep_override()]
    return keys + [k for k in (OmegaConf.select(config, "hydra.sweeper.params") or {}) if k not in keys]


def named_by(keys: list[str], sweep_dir: Path) -> bool:
    """Whether the job folders of the sweep in ``sweep_dir`` are named with ``keys`` first (dae.config.job_dirname)."""
    jobs = [job for job in sweep_dir.iterdir() if (job / ".hydra" / "overrides.yaml").is_file()] if sweep_dir.is_dir() else []
    return all(job.name == job_dirname(OmegaConf.load(job / ".hydra" / "overrides.yaml"), keys) for job in jobs)


def search_space_problem(config: DictConfig) -> str | None:
    """What is wrong with a search's ``hydra.sweeper.params`` (an empty choice, an interval or a range that holds
    nothing), said before any trial runs; None if nothing is."""
    params = OmegaConf.select(config, "hydra.sweeper.params")
    if not params:
        return None
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep

    parser = OverridesParser.create()
    for key, value in params.items():
        try:
            sweep = parser.parse_override(f"{key}={value}").value()
        except Exception as e:  # Hydra's own parse errors
            return f"hydra.sweeper.params.{key}={value} cannot be read ({first_line(e)}); e.g. interval(0.001, 0.01) or choice(a, b)."
        empty = (
            (isinstance(sweep, IntervalSweep) and not sweep.start < sweep.end)
            or (isinstance(sweep, RangeSweep) and not (sweep.stop - sweep.start) * (sweep.step or 1) > 0)
            or (isinstance(sweep, ChoiceSweep) and not sweep.list)
        )
        if empty:
            return (
                f"hydra.sweeper.params.{key}={value} holds no value to try; give a low end below the high end, e.g. interval(0.001, 0.01)."
            )
    return None


def resume_argv(argv: list[str]) -> list[str]:
    """The command line of ``-m resume=<sweep folder>``: the sweep's own overrides and launcher settings, read from its
    ``multirun.yaml``, into the same folder. Anything else given beside it is refused, before anything runs; launcher
    settings (``hydra/launcher=...``, ``hydra.launcher.*``) may be changed. Other command lines come back as they are."""
    if not any(arg in ("-m", "--multirun") for arg in argv) or not any(arg.startswith("resume=") for arg in argv[1:]):
        return argv
    args = [arg for arg in argv[1:] if arg not in ("-m", "--multirun")]
    resume = [arg for arg in args if arg.startswith("resume=")]
    folder = Path(resume[0].partition("=")[2].strip("'\"")).expanduser().resolve()
    launcher = [arg for arg in args if arg.startswith(("hydra/launcher=", "hydra.launcher."))]
    others = [arg for arg in args if arg not in resume and arg not in launcher]
    if others or len(resume) > 1:
        raise ConfigError(
            f"resume={folder} resumes a sweep with its own overrides; also given: {' '.join(others + resume[1:])}. Leave them out "
            "(launcher settings, hydra/launcher=... and hydra.launcher.*, may stay), or start a new sweep."
        )
    if not (folder / "multirun.yaml").is_file():
        raise ConfigError(
            f"resume={folder} is not a sweep folder (no multirun.yaml); pass outputs/multirun/<time>, or drop -m to resume one job."
        )
    recorded = OmegaConf.load(folder / "multirun.yaml").hydra.overrides
    kept = [o for o in recorded.hydra if not o.startswith(("hydra.sweep.dir=", "hydra.mode=", f"+hydra.job.env_set.{RESUMING}="))]
    return [argv[0], "-m", *recorded.task, *kept, *launcher, f"hydra.sweep.dir={folder}", f"+hydra.job.env_set.{RESUMING}=1"]


def requeued() -> bool:
    """Whether this is a SLURM job started again (requeued: preempted, past its time limit, ``scontrol requeue``)."""
    return int(os.environ.get("SLURM_RESTART_COUNT") or 0) > 0


def resumed_job(output_dir: str | Path) -> tuple[str, Path | None]:
    """In a resumed sweep, what a job does: ``("done", None)`` if it finished (``metrics.json``), ``("continue",
    last.ckpt)`` if it was stopped after an epoch, else ``("start", None)`` (its ``error.txt`` removed)."""
    folder = Path(output_dir)
    if (folder / "metrics.json").is_file():
        return "done", None
    last = folder / "checkpoints" / "last.ckpt"
    if last.is_file():
        return "continue", last
    (folder / ERROR_FILE).unlink(missing_ok=True)
    return "start", None
