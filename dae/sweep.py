"""Sweeps that survive a failing job.

In a sweep (``-m``), a job that raises writes ``error.txt`` into its folder (the error on the first
line, then the traceback) and returns, so the launcher goes on with the others; at the end,
:class:`SweepSummary` (a Hydra callback, conf/hydra/default.yaml) prints one line naming the failed
jobs and exits with status 1. A single run (no ``-m``) raises as usual.
"""

from __future__ import annotations

import logging
import shutil
import sys
import traceback
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from dae.files import write_text
from dae.jobs import sweep_jobs

log = logging.getLogger(__name__)

ERROR_FILE = "error.txt"


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
    """Before a sweep: a SLURM launcher where SLURM is not installed is one line, before any folder is made.
    After it: one line naming the failed jobs, and exit status 1 if there were any."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        launcher = str(config.hydra.launcher.get("_target_", ""))
        if "Slurm" in launcher and shutil.which("sbatch") is None:
            print(
                "error: hydra/launcher=submitit_slurm needs SLURM, and sbatch is not on the PATH; on a machine without SLURM run the "
                "sweep with the basic launcher (leave hydra/launcher out) or in parallel processes (hydra/launcher=joblib).",
                file=sys.stderr,
                flush=True,
            )
            raise SystemExit(1)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        failed = failed_jobs(sweep_dir)
        total = len(sweep_jobs(sweep_dir))
        if failed:
            names = ", ".join(job.name for job in failed)
            print(f"sweep {sweep_dir}: {len(failed)} of {total} jobs failed: {names} (see error.txt in each)", file=sys.stderr, flush=True)
            raise SystemExit(1)
