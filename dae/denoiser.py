"""The LightningModule that trains an autoencoder to denoise: noisy images in, clean images as the target."""

from __future__ import annotations

import lightning as L
import torch
from torch import nn

from dae.metrics import ImageQuality
from dae.optim import OptimizerFactory, SchedulerFactory, configure_optimizers


class Denoiser(L.LightningModule):
    """Trains ``net`` on ``(noisy, clean, label)`` batches with ``loss``.

    Batches, :meth:`forward` and :meth:`encode` take images in [0, 1]. The network works in
    [-1, 1] (it ends in Tanh), so :meth:`to_net` maps images there and :meth:`forward` maps the
    output back. The loss is computed in the network's range, the same on train, val and test.

    To change what training optimizes, subclass and override :meth:`training_step` (see
    :class:`dae.variational.VariationalDenoiser`, which adds a KL term): optimization is
    Lightning's automatic one, so the loss it returns is what is minimized.

    Args:
        net: an autoencoder ``nn.Module`` with ``forward(x)`` and ``encode(x)`` (dae/models/).
        loss: a criterion ``loss(output, target)``, e.g. ``nn.L1Loss()``.
        optimizer: a partial taking the parameters (``torch.optim.Adam`` with ``_partial_: true``).
        scheduler: an optional partial taking the optimizer (see :func:`dae.optim.configure_optimizers`).
        crop: border pixels left out of the metrics (2: the padding of 28 x 28 digits to 32 x 32).
        channels_last: keep weights and inputs in channels-last memory order: the same numbers,
            computed faster by oneDNN on CPUs and by tensor cores on GPUs.
    """

    # What the TensorBoard HPARAMS tab compares runs by (callbacks add their own: dae.callbacks.ReportCallback).
    hp_metrics = ("hp/val_psnr", "hp/val_ssim", "hp/test_psnr")

    def __init__(
        self,
        net: nn.Module,
        loss: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        crop: int = 2,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        # Checkpoints hold weights and plain values only (they load with weights_only=True); the
        # job folder's .hydra/config.yaml says how to rebuild the objects.
        self.save_hyperparameters(logger=False, ignore=["net", "loss", "optimizer", "scheduler"])
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.net = net.to(memory_format=self.memory_format)
        self.loss = loss
        self.optimizer, self.scheduler = optimizer, scheduler
        self.val_quality = ImageQuality(crop)
        self.test_quality = ImageQuality(crop)

    def to_net(self, images: torch.Tensor) -> torch.Tensor:
        """[0, 1] images in the network's range and memory order."""
        return (images * 2 - 1).contiguous(memory_format=self.memory_format)

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        """Denoise [0, 1] images; returns [0, 1] images."""
        return self.net(self.to_net(noisy)).add(1).div(2)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Latent vectors of [0, 1] images."""
        return self.net.encode(self.to_net(images))

    def model_step(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """The network's output on a batch's noisy images, in its range, and the loss against the clean ones."""
        noisy, clean, _ = batch
        output = self.net(self.to_net(noisy))
        return output, self.loss(output, clean * 2 - 1)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        _, loss = self.model_step(batch)
        self.log_train_loss(loss, len(batch[0]), batch_idx)
        return loss

    def on_train_epoch_start(self) -> None:
        self.train_loss_sum, self.train_loss_count = torch.zeros((), device=self.device), 0

    def log_train_loss(self, loss: torch.Tensor, n: int, batch_idx: int) -> None:
        """Logs ``train/loss_step`` on the steps the logger writes (every ``trainer.log_every_n_steps``)
        and ``train/loss_epoch``, the epoch's mean over images, at its last batch: the tags and values of
        ``self.log("train/loss", on_step=True, on_epoch=True)``, at a fraction of its cost. Each
        ``self.log`` call costs Python time at every step (3% of a bf16 step on a 2-core CPU,
        experiments/speed); here the epoch mean is one in-place add per step. The step value is logged
        as a host copy, so that the progress bar never makes the host wait for a GPU, and it is the
        local process's loss (under DDP, rank 0's is written); the epoch mean is over every process."""
        self.train_loss_sum.add_(loss.detach().float(), alpha=n)
        self.train_loss_count += n
        every = self.trainer.log_every_n_steps
        if every and (self.global_step + 1) % every == 0:  # as Lightning decides when to write step values
            self.log("train/loss_step", loss.detach().cpu(), on_step=True, on_epoch=False, prog_bar=True, batch_size=n)
        if batch_idx + 1 == self.trainer.num_training_batches:
            mean = self.train_loss_sum / self.train_loss_count
            self.log(
                "train/loss_epoch", mean, on_step=False, on_epoch=True, prog_bar=True, sync_dist=True, batch_size=self.train_loss_count
            )

    def validation_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, self.val_quality)

    def test_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, self.test_quality)

    def _evaluate(self, batch, quality: ImageQuality) -> None:
        output, loss = self.model_step(batch)
        noisy, clean, _ = batch
        quality.update(noisy, output.add(1).div(2).clamp(0, 1), clean, loss)

    def _log_quality(self, stage: str, quality: ImageQuality) -> dict[str, torch.Tensor]:
        values = quality.compute()  # torchmetrics reduces across processes: every rank logs the same value
        quality.reset()
        for name, value in values.items():
            self.log(f"{stage}/{name}", value, prog_bar=name == "psnr", sync_dist=True)
        return values

    def on_validation_epoch_end(self) -> None:
        values = self._log_quality("val", self.val_quality)
        self.log_dict({"hp/val_psnr": values["psnr"], "hp/val_ssim": values["ssim"]}, sync_dist=True)

    def on_test_epoch_end(self) -> None:
        values = self._log_quality("test", self.test_quality)
        self.log("hp/test_psnr", values["psnr"], sync_dist=True)

    def configure_optimizers(self):
        return configure_optimizers(self, self.optimizer, self.scheduler)
