"""Train a denoising autoencoder: ``python -m dae.train [overrides]`` (see conf/train.yaml); the work is
:func:`dae.training.train`."""

from __future__ import annotations

import logging
import math
import sys

import hydra
from omegaconf import DictConfig

from dae.cli import one_line_errors, prepare_argv
from dae.speedups.allocator import keep_freed_memory
from dae.sweep import in_sweep, record_failure
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
            metrics = train(cfg)
        except Exception as error:
            record_failure(cfg.paths.output_dir, error)  # the sweep goes on; dae.sweep.SweepSummary reports it
            return float("-inf")
    value = metrics["val/psnr"]  # the sweep objective (for Hydra's optimising sweepers)
    return value if math.isfinite(value) else float("-inf")


if __name__ == "__main__":
    sys.argv = prepare_argv(sys.argv)  # --verbose, and resume=<sweep job folder>, whose name holds "="
    main()
