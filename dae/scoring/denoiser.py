"""Scoring a denoiser on a set of images: PSNR and SSIM against the clean images, and classifier M's
accuracy on what it returns; at one noise, or at several levels of it (``levels.csv``, ``.json``, ``.png``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import lightning as L
import torch

from dae import figures
from dae.data.datamodule import fixed_noise
from dae.errors import ConfigError, first_line
from dae.files import write_csv, write_json
from dae.inference import denoise
from dae.jobs import Job
from dae.metrics import image_quality
from dae.scoring.classifier import load_or_train, predict

log = logging.getLogger(__name__)


LEVEL_COLUMNS = ("level", "noisy_psnr", "psnr", "ssim", "acc_noisy", "acc_denoised")


def at_levels(job: Job, model: L.LightningModule, datamodule, levels: Sequence[float], cache_dir: str) -> dict:
    """PSNR, SSIM and classifier M's accuracy at each level of the run's noise, on the test set
    with fixed noise made for that level. Writes ``levels.csv`` / ``.json`` / ``.png``."""
    noise = datamodule.noise
    try:
        noises = [noise.at_level(level) for level in levels]  # every level checked before any work
    except ValueError as e:
        raise ConfigError(f"levels={list(levels)}: {first_line(e)}") from None
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
