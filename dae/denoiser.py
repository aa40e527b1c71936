"""The LightningModule that trains an autoencoder to denoise: noisy in, clean target."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import lightning as L
import torch
from torch import nn
from torchmetrics import MeanMetric
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure


class ImageQuality(nn.Module):
    """Per-image PSNR and SSIM of the denoised output, PSNR of the noisy input, and the mean loss.

    Images are in [0, 1]; ``crop`` pixels are cut from each border first, so that the
    scores cover the original 28 x 28 area, not the padding.
    """

    def __init__(self, crop: int = 2) -> None:
        super().__init__()
        self.crop = crop
        self.psnr = PeakSignalNoiseRatio(data_range=1.0, dim=(1, 2, 3))
        self.noisy_psnr = PeakSignalNoiseRatio(data_range=1.0, dim=(1, 2, 3))
        self.ssim = StructuralSimilarityIndexMeasure(data_range=1.0)
        self.loss = MeanMetric()

    def _cut(self, x: torch.Tensor) -> torch.Tensor:
        c = self.crop
        return x[..., c : x.shape[-2] - c, c : x.shape[-1] - c] if c else x

    def update(self, noisy: torch.Tensor, denoised: torch.Tensor, clean: torch.Tensor, loss: torch.Tensor) -> None:
        noisy, denoised, clean = self._cut(noisy).float(), self._cut(denoised).float(), self._cut(clean).float()
        self.psnr.update(denoised, clean)
        self.ssim.update(denoised, clean)
        self.noisy_psnr.update(noisy, clean)
        self.loss.update(loss.detach().float(), weight=len(clean))

    def compute(self) -> dict[str, torch.Tensor]:
        return {"psnr": self.psnr.compute(), "ssim": self.ssim.compute(), "noisy_psnr": self.noisy_psnr.compute(), "loss": self.loss.compute()}

    def reset(self) -> None:
        for metric in (self.psnr, self.ssim, self.noisy_psnr, self.loss):
            metric.reset()


class Denoiser(L.LightningModule):
    """Trains ``net`` on (noisy, clean) pairs with ``loss``.

    The network works in [-1, 1] (it ends in Tanh); batches and :meth:`forward` use
    [0, 1] images, so the module maps its inputs to [-1, 1] and the output back.
    The loss is computed in the network's range, the same on train, val and test.

    Args:
        net: an autoencoder with ``forward(x)`` and ``encode(x)``.
        loss: a criterion ``loss(output, target)``, e.g. ``nn.L1Loss()``.
        optimizer: a partial taking the parameters (``torch.optim.Adam`` with ``_partial_: true``).
        scheduler: an optional partial taking the optimizer (see :func:`configure_optimizers`).
        crop: border pixels excluded from the metrics (2: the padding of 28 x 28 to 32 x 32).
        channels_last: keep the network's weights and inputs in channels-last memory order;
            the same numbers, computed faster by oneDNN on CPUs and by tensor cores on GPUs.
    """

    def __init__(
        self,
        net: nn.Module,
        loss: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None = None,
        crop: int = 2,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        # Checkpoints hold weights and plain values only (they load with weights_only=True);
        # the job folder's .hydra/config.yaml rebuilds the objects.
        self.save_hyperparameters(logger=False, ignore=["net", "loss", "optimizer", "scheduler"])
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.net, self.loss = net.to(memory_format=self.memory_format), loss
        self.optimizer, self.scheduler = optimizer, scheduler
        self.val_quality = ImageQuality(crop)
        self.test_quality = ImageQuality(crop)

    def _to_net(self, images: torch.Tensor) -> torch.Tensor:
        """[0, 1] images to the network's range and memory order."""
        return (images * 2 - 1).contiguous(memory_format=self.memory_format)

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        """Denoise [0, 1] images; returns [0, 1] images."""
        return self.net(self._to_net(noisy)).add(1).div(2)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Latent vectors of [0, 1] images."""
        return self.net.encode(self._to_net(images))

    def _step(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        noisy, clean, _ = batch
        output = self.net(self._to_net(noisy))
        return output, self.loss(output, clean * 2 - 1)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        _, loss = self._step(batch)
        regularisation = getattr(self.net, "regularisation", None)  # e.g. the VAE's KL term
        if regularisation is not None:
            terms = regularisation(self.global_step)
            self.log("train/reconstruction", loss, on_step=False, on_epoch=True, sync_dist=True)
            self.log("train/kl", terms["kl"], on_step=False, on_epoch=True, sync_dist=True)
            loss = loss + terms["weighted"]
        # The step value is this process's; the epoch mean is reduced across processes once, at the epoch's end.
        self.log("train/loss_step", loss, on_step=True, on_epoch=False, prog_bar=True)
        self.log("train/loss_epoch", loss, on_step=False, on_epoch=True, sync_dist=True)
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, self.val_quality)

    def test_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, self.test_quality)

    def _evaluate(self, batch, quality: ImageQuality) -> None:
        output, loss = self._step(batch)
        noisy, clean, _ = batch
        quality.update(noisy, output.add(1).div(2).clamp(0, 1), clean, loss)

    def _log_quality(self, stage: str, quality: ImageQuality) -> dict[str, torch.Tensor]:
        values = quality.compute()  # torchmetrics reduces across processes: every rank logs the same value
        quality.reset()
        for name, value in values.items():
            self.log(f"{stage}/{name}", value, prog_bar=name == "psnr", sync_dist=True)  # the same on every rank: no change
        return values

    def on_validation_epoch_end(self) -> None:
        values = self._log_quality("val", self.val_quality)
        self.log_dict({"hp/val_psnr": values["psnr"], "hp/val_ssim": values["ssim"]}, sync_dist=True)

    def on_test_epoch_end(self) -> None:
        values = self._log_quality("test", self.test_quality)
        self.log("hp/test_psnr", values["psnr"], sync_dist=True)

    def configure_optimizers(self):
        return configure_optimizers(self, self.optimizer, self.scheduler)


def configure_optimizers(module: L.LightningModule, optimizer, scheduler):
    """Optimizer and optional schedule for Lightning. A schedule that takes ``total_steps``
    (one-cycle) gets the run's number of steps and is stepped per batch; others per epoch."""
    optimizer = optimizer(params=module.parameters())
    if not scheduler:
        return optimizer
    if "total_steps" in inspect.signature(scheduler.func).parameters:
        schedule = scheduler(optimizer=optimizer, total_steps=module.trainer.estimated_stepping_batches)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler(optimizer=optimizer), "interval": "epoch"}}
