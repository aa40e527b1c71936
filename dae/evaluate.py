"""Evaluate a finished run again: ``python -m dae.evaluate run=<job folder> [ckpt=<file>] [levels=[...]]``.

Tests the run's checkpoint on its fixed noisy test set and writes classifier M's report
(``classifier_report.json`` / ``.txt``) into the job folder, as the training run does.
With ``levels=[0.1,0.2,...]`` it evaluates the run at each level of its noise instead (no
retraining) and writes ``levels.csv``, ``levels.json`` and ``levels.png`` into the job folder.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig

from dae import figures
from dae.callbacks import ClassifierReport
from dae.classifier import load_or_train, predict
from dae.cli import one_line_errors, prepare_argv
from dae.data.datamodule import fixed_noise
from dae.files import write_csv, write_json
from dae.inference import denoise
from dae.jobs import Job, JobError, build_datamodule, load_job, load_model, target
from dae.metrics import image_quality

log = logging.getLogger(__name__)


def evaluate(cfg: DictConfig) -> dict:
    """Test metrics and classifier accuracies of ``cfg.run`` (or ``cfg.ckpt``, or the latest job)."""
    job = load_job(target(cfg.run, cfg.ckpt, cfg.paths.log_dir))
    model = load_model(job, cfg.ckpt)  # a bad or foreign checkpoint fails here, before any work
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


LEVEL_COLUMNS = ("level", "noisy_psnr", "psnr", "ssim", "acc_noisy", "acc_denoised")


def at_levels(job: Job, model: L.LightningModule, datamodule, levels: Sequence[float], cache_dir: str) -> dict:
    """PSNR, SSIM and classifier M's accuracy at each level of the run's noise, on the test set
    with fixed noise made for that level. Writes ``levels.csv`` / ``.json`` / ``.png``."""
    noise = datamodule.noise
    try:
        noises = [noise.at_level(level) for level in levels]  # every level checked before any work
    except ValueError as e:
        raise JobError(f"levels={list(levels)}: {e}") from None
    classifier = load_or_train(job.cfg.classifier, datamodule, cache_dir)
    rows = []
    for level, level_noise in zip(levels, noises):
        rows.append({"level": float(level), **on_noise(model, datamodule, level_noise, classifier, job.precision)})
        log.info("%s=%g: %s", noise.level_name, level, ", ".join(f"{k} {v:.4f}" for k, v in rows[-1].items() if k != "level"))
    write_csv(job.folder / "levels.csv", rows, LEVEL_COLUMNS)
    result = {"noise": noise.name, "level_name": noise.level_name, "trained_at": noise.params(), "levels": rows}
    write_json(job.folder / "levels.json", result)
    levels_figure(rows, noise, job.folder / "levels.png", title=job.folder.name)
    log.info("levels written to %s (levels.csv, levels.json, levels.png)", job.folder)
    return result


def on_noise(model: L.LightningModule, datamodule, noise, classifier, precision: str | None = None) -> dict:
    """PSNR and SSIM (denoised, and PSNR of the noisy input) and classifier M's accuracy (noisy and
    denoised) of ``model`` on the test set under ``noise``: the fixed noisy images of that noise
    configuration, whatever noise the model was trained on."""
    _, clean, labels = datamodule.images("test")
    labels = labels.numpy()
    noisy = fixed_noise(noise, clean, "test")
    denoised = denoise(model, noisy, precision=precision)
    scores = judge(denoised, noisy, clean, labels, classifier, model.hparams.get("crop", 2))
    return {**scores, "acc_noisy": float((predict(classifier, noisy) == labels).mean())}


def judge(denoised: torch.Tensor, noisy: torch.Tensor, clean: torch.Tensor, labels, classifier, crop: int) -> dict:
    """PSNR and SSIM of ``denoised`` images (and PSNR of their ``noisy`` inputs) over the area inside
    ``crop`` pixels of the border, and classifier M's accuracy on ``denoised``: how any denoiser is scored."""
    return {**image_quality(denoised, noisy, clean, crop), "acc_denoised": float((predict(classifier, denoised) == labels).mean())}


def levels_figure(rows: list[dict], noise, path, title: str | None = None):
    """PSNR (denoised and noisy) and M's accuracy (denoised and noisy) against the noise level."""
    import matplotlib.pyplot as plt

    x = [r["level"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, keys, ylabel in ((left, ("psnr", "noisy_psnr"), "PSNR (dB)"), (right, ("acc_denoised", "acc_noisy"), "classifier M accuracy")):
        for key in keys:
            ax.plot(x, [r[key] for r in rows], marker="o", markersize=3, label="noisy input" if "noisy" in key else "denoised")
        ax.axvline(getattr(noise, noise.level_name), color="gray", linestyle=":", label="trained at")
        ax.set_xlabel(f"{noise.name} {noise.level_name}")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return figures.save(fig, path)


@hydra.main(version_base="1.3", config_path="pkg://dae.conf", config_name="evaluate")
def main(cfg: DictConfig) -> float:
    with one_line_errors(HydraConfig.get().runtime.output_dir):
        result = evaluate(cfg)
    return result["acc_denoised"] if "acc_denoised" in result else None


if __name__ == "__main__":
    sys.argv = prepare_argv(sys.argv)
    main()
