"""Evaluate a finished run again: ``python -m dae.evaluate run=<job folder> [ckpt=<file>]``.

Tests the run's checkpoint on its fixed noisy test set and writes classifier M's report
(``classifier_report.json`` / ``.txt``) into the job folder, as the training run does.
"""

from __future__ import annotations

import logging
import sys

import hydra
import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig

from dae.callbacks import ClassifierReport
from dae.jobs import JobError, build_datamodule, load_job, load_model, quote_path_overrides, target

log = logging.getLogger(__name__)


def evaluate(cfg: DictConfig) -> dict:
    """Test metrics and classifier accuracies of ``cfg.run`` (or ``cfg.ckpt``, or the latest job)."""
    job = load_job(target(cfg.run, cfg.ckpt, cfg.paths.log_dir))
    model = load_model(job, cfg.ckpt)  # a bad or foreign checkpoint fails here, before any work
    datamodule = build_datamodule(job)
    report = ClassifierReport(job.cfg.classifier, cfg.paths.cache_dir, str(job.folder))
    logger = TensorBoardLogger(save_dir=str(job.folder), name="", version="", default_hp_metric=False)
    trainer = L.Trainer(accelerator=cfg.accelerator, devices=1, logger=logger, callbacks=[report], enable_model_summary=False)
    test = trainer.test(model, datamodule=datamodule, verbose=False)[0]
    accuracies = {f"acc_{name}": r["accuracy"] for name, r in report.results.items()}
    result = {**{k: float(v) for k, v in test.items() if k.startswith("test/")}, **accuracies}
    log.info("%s: %s", job.folder, ", ".join(f"{k} {v:.4f}" for k, v in result.items()))
    return result


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
def main(cfg: DictConfig) -> float:
    try:
        result = evaluate(cfg)
    except JobError as e:
        raise SystemExit(f"error: {e}") from None
    return result["acc_denoised"]


if __name__ == "__main__":
    sys.argv = quote_path_overrides(sys.argv)
    main()
