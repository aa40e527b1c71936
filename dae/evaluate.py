"""Evaluate a finished run again: ``python -m dae.evaluate run=<job folder> [ckpt=<file>] [levels=[...]]``.

Tests the run's checkpoint on its fixed noisy test set and writes classifier M's report
(``classifier_report.json`` / ``.txt``) into the job folder, as the training run does.
With ``levels=[0.1,0.2,...]`` it evaluates the run at each level of its noise instead (no
retraining) and writes ``levels.csv``, ``levels.json`` and ``levels.png`` into the job folder.
"""

from __future__ import annotations

import logging
import sys

import hydra
import lightning as L
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig

from dae.callbacks import ClassifierReport
from dae.cli import one_line_errors, prepare_argv
from dae.jobs import load_job, target
from dae.loading import build_datamodule, load
from dae.scoring.denoiser import at_levels

log = logging.getLogger(__name__)


def evaluate(cfg: DictConfig) -> dict:
    """Test metrics and classifier accuracies of ``cfg.run`` (or ``cfg.ckpt``, or the latest job)."""
    job = load_job(target(cfg.run, cfg.ckpt, cfg.paths.log_dir))
    model = load(job, cfg.ckpt).module  # a bad or foreign checkpoint fails here, before any work
    datamodule = build_datamodule(job)
    if cfg.get("levels"):
        return at_levels(job, model, datamodule, list(cfg.levels), cfg.paths.cache_dir)
    report = ClassifierReport(job.cfg.classifier, cfg.paths.cache_dir, str(job.folder))
    logger = TensorBoardLogger(save_dir=str(job.folder), name="", version="", default_hp_metric=False)
    trainer = L.Trainer(
        accelerator=cfg.accelerator, devices=1, precision=job.precision, logger=logger, callbacks=[report], enable_model_summary=False
    )
    test = trainer.test(model, datamodule=datamodule, verbose=False)[0]
    accuracies = {f"acc_{name}": r["accuracy"] for name, r in report.results.items()}
    result = {**{k: float(v) for k, v in test.items() if k.startswith("test/")}, **accuracies}
    log.info("%s: %s", job.folder, ", ".join(f"{k} {v:.4f}" for k, v in result.items()))
    return result


@hydra.main(version_base="1.3", config_path="pkg://dae.conf", config_name="evaluate")
def main(cfg: DictConfig) -> float:
    with one_line_errors(HydraConfig.get().runtime.output_dir):
        result = evaluate(cfg)
    return result["acc_denoised"] if "acc_denoised" in result else None


if __name__ == "__main__":
    sys.argv = prepare_argv(sys.argv)
    main()
