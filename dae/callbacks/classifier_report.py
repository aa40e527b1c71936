from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig

from dae.callbacks.base import ReportCallback
from dae.callbacks.common import tensorboard
from dae.files import write_json, write_text
from dae.inference import denoise
from dae.scoring.classifier import load_or_train, predict, report

log = logging.getLogger(__name__)

INPUTS = ("clean", "noisy", "denoised", "reconstructed")


def classifier_report(
    classifier: torch.nn.Module,
    module: L.LightningModule,
    noisy: torch.Tensor,
    clean: torch.Tensor,
    labels: torch.Tensor,
    precision: str | None = None,
) -> tuple[dict, str]:
    """Classifier M's report on the test set as four inputs: clean, noisy, denoised, reconstructed
    (the autoencoder run at the trainer's ``precision``, as in its test step)."""
    images = {
        "clean": clean,
        "noisy": noisy,
        "denoised": denoise(module, noisy, precision=precision),
        "reconstructed": denoise(module, clean, precision=precision),
    }
    classifier = classifier.to(module.device)
    results, texts = {}, []
    for name in INPUTS:
        results[name], text = report(labels.numpy(), predict(classifier, images[name], module.device))
        texts.append(f"== {name} ({len(labels)} test images) ==\n{text}")
    return results, "\n".join(texts)


class ClassifierReport(ReportCallback):
    """After testing, report classifier M on clean, noisy, denoised and reconstructed test images.

    Writes ``classifier_report.json`` (top-level keys ``clean``, ``noisy``, ``denoised``,
    ``reconstructed``, each scikit-learn's report with ``accuracy``) and ``classifier_report.txt``
    into ``out_dir``; sends the text to TensorBoard's TEXT tab and the accuracies to
    ``hp/acc_<input>`` for the HPARAMS tab. M comes from the cache, or is trained on first use.
    """

    hp_metrics = tuple(f"hp/acc_{name}" for name in INPUTS)

    def __init__(self, classifier: DictConfig, cache_dir: str, out_dir: str) -> None:
        self.classifier_cfg, self.cache_dir, self.out_dir = classifier, cache_dir, Path(out_dir)
        self.classifier: torch.nn.Module | None = None
        self.results: dict | None = None

    def prepare(self, trainer: L.Trainer, datamodule: L.LightningDataModule) -> None:
        """Get M before training starts: from the cache, or trained now, on one device, so that M is
        never trained inside the processes of a distributed run (its own Trainer would join their
        process group and wait forever)."""
        if self.classifier is None:
            accelerator = "gpu" if trainer.strategy.root_device.type == "cuda" else "cpu"
            self.classifier = load_or_train(self.classifier_cfg, datamodule, self.cache_dir, accelerator=accelerator)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        # Get M now, outside the test loop's inference mode: training it, on first use, needs gradients.
        if self.classifier is None and trainer.is_global_zero:
            self.prepare(trainer, trainer.datamodule)

    @rank_zero_only
    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        noisy, clean, labels = trainer.datamodule.images("test")
        self.results, text = classifier_report(self.classifier, pl_module, noisy, clean, labels, trainer.precision)
        write_json(self.out_dir / "classifier_report.json", self.results)
        write_text(self.out_dir / "classifier_report.txt", text)
        accuracies = {f"hp/acc_{name}": self.results[name]["accuracy"] for name in INPUTS}
        log.info("classifier M accuracy: %s", ", ".join(f"{name} {self.results[name]['accuracy']:.4f}" for name in INPUTS))
        for logger in trainer.loggers:
            logger.log_metrics(accuracies, step=trainer.global_step)
        writer = tensorboard(trainer)
        if writer is not None:
            writer.add_text(
                "classifier_report", "    " + text.replace("\n", "\n    "), trainer.global_step
            )  # indented: monospace in TensorBoard
            writer.flush()
