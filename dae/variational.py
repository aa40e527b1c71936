"""The VAE's LightningModule: the denoiser's training loss plus a weighted KL term."""

from __future__ import annotations

import torch

from dae.denoiser import Denoiser
from dae.errors import ConfigError
from dae.models.vae import VariationalAutoencoder, kl_divergence


class VariationalDenoiser(Denoiser):
    """A :class:`~dae.denoiser.Denoiser` for a :class:`~dae.models.VariationalAutoencoder`: the training
    loss is the reconstruction loss plus ``beta`` times the KL divergence to N(0, I), ``beta`` rising
    linearly from 0 over the first ``warmup_steps`` steps. Logs ``train/reconstruction`` and
    ``train/kl`` besides ``train/loss``. Validation and test score the reconstruction, as for any model.

    Args: those of :class:`~dae.denoiser.Denoiser`, and
        beta: the weight of the KL term (per latent dimension) against the reconstruction loss.
        warmup_steps: steps over which the weight rises from 0 to ``beta``; 0: no warm-up.
    """

    net: VariationalAutoencoder

    def __init__(self, *args, beta: float = 0.01, warmup_steps: int = 1000, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(self.net, VariationalAutoencoder):
            raise ConfigError(
                f"model.net is a {type(self.net).__name__}; {type(self).__name__} trains a dae.models.VariationalAutoencoder (model=vae)."
            )
        if beta < 0 or warmup_steps < 0:
            raise ConfigError(f"model.beta={beta} and model.warmup_steps={warmup_steps} must be >= 0.")
        self.beta, self.warmup_steps = float(beta), int(warmup_steps)

    def kl_weight(self, step: int) -> float:
        """The KL term's weight at training ``step``."""
        return self.beta * min(1.0, step / self.warmup_steps) if self.warmup_steps else self.beta

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        noisy, clean, _ = batch
        output, mean, log_var = self.net.reconstruct(self.to_net(noisy))
        reconstruction = self.loss(output, clean * 2 - 1)
        kl = kl_divergence(mean, log_var)
        loss = reconstruction + self.kl_weight(self.global_step) * kl
        self.log("train/reconstruction", reconstruction, on_step=False, on_epoch=True, sync_dist=True)
        self.log("train/kl", kl, on_step=False, on_epoch=True, sync_dist=True)
        self.log_train_loss(loss, len(noisy), batch_idx)
        return loss

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images in [0, 1] decoded from draws of the prior."""
        return self.net.sample(n, generator).add(1).div(2)
