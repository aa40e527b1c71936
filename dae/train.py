"""Train a denoising autoencoder: ``python -m dae.train [overrides]`` (see conf/train.yaml); the work is
:func:`dae.training.train`."""

from __future__ import annotations

import logging
import math
import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from dae.cli import one_line_errors, prepare_argv
from dae.jobs import read_json
from dae.speedups.allocator import keep_freed_memory
from dae.sweep import RESUMING, in_sweep, record_failure, requeued, resume_argv, resumed_job
from dae.training import resumable, train

log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path="pkg://dae.conf", config_name="train")
def main(cfg: DictConfig) -> float:
    keep_freed_memory()  # faster CPU steps (dae/speedups/allocator.py)
    if cfg.get("resume"):
        with one_line_errors():  # the job folder is the one resumed: never removed
            cfg, checkpoint = resumable(cfg)
            log.info("resuming %s from %s", cfg.paths.output_dir, checkpoint)
            return train(cfg, resume_from=checkpoint)["val/psnr"]
    if not in_sweep():
        with one_line_errors(cfg.paths.output_dir):
            metrics = train(cfg)
    else:
        try:
            metrics = sweep_job(cfg)
        except Exception as error:
            record_failure(cfg.paths.output_dir, error)  # the sweep goes on; dae.sweep.SweepSummary reports it
            return float("-inf")
    value = metrics["val/psnr"]  # the sweep objective (for Hydra's optimising sweepers)
    return value if math.isfinite(value) else float("-inf")


def sweep_job(cfg: DictConfig) -> dict:
    """One job of a sweep; in a resumed sweep (dae.sweep.resume_argv) or a requeued SLURM job, a finished job is
    skipped and a stopped one continues from its last.ckpt."""
    if not os.environ.get(RESUMING) and not requeued():
        return train(cfg)
    what, checkpoint = resumed_job(cfg.paths.output_dir)
    if what == "done":
        log.info("%s finished before: skipped", cfg.paths.output_dir)
        return read_json(Path(cfg.paths.output_dir) / "metrics.json")
    if what == "continue":
        log.info("resuming %s from %s", cfg.paths.output_dir, checkpoint)
        return train(cfg, resume_from=checkpoint)
    return train(cfg)


if __name__ == "__main__":
    sys.argv = prepare_argv(sys.argv)  # --verbose, and resume=<sweep job folder>, whose name holds "="
    with one_line_errors():
        sys.argv = resume_argv(sys.argv)  # -m resume=<sweep folder>: the sweep's own overrides
    main()
