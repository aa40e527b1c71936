"""A convolutional variational autoencoder on the design's backbone, trained to denoise."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dae.models.conv_ae import ConvAutoencoder


class VariationalAutoencoder(ConvAutoencoder):
    """The design's encoder to a mean and a log-variance, a sample ``z = mean + std * eps`` while
    training (the mean when evaluating), the design's decoder.

    The training loss is the reconstruction loss plus ``beta`` times the KL divergence to N(0, I)
    (per latent dimension, averaged over the batch), ``beta`` rising linearly from 0 over the first
    ``warmup_steps`` steps; :meth:`regularisation` gives the Denoiser both terms to log. The probe
    reads the mean; :meth:`sample` decodes draws from the prior.
    """

    def __init__(
        self,
        in_channels: int = 1,
        channels: Sequence[int] = (64, 128, 256),
        latent_dim: int = 128,
        image_size: int = 32,
        beta: float = 0.01,
        warmup_steps: int = 1000,
    ) -> None:
        super().__init__(in_channels, channels, latent_dim, image_size)
        if beta < 0 or warmup_steps < 0:
            raise ValueError(f"model.net.beta={beta} and model.net.warmup_steps={warmup_steps} must be >= 0.")
        self.beta, self.warmup_steps = float(beta), int(warmup_steps)
        last = self.encoder.to_latent[-1]
        self.encoder.to_latent[-1] = nn.Linear(last.in_features, 2 * latent_dim)  # mean and log-variance
        self._kl: torch.Tensor | None = None

    def moments(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_var = self.encoder(x).chunk(2, dim=1)
        return mean, log_var.clamp(-10, 10)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.moments(x)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean, log_var = self.moments(x)
        self._kl = 0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var).mean()
        z = mean + torch.randn_like(mean) * (0.5 * log_var).exp() if self.training else mean
        return self.decoder(z)

    def regularisation(self, step: int) -> dict[str, torch.Tensor]:
        """The last forward pass's KL term, and its weight at training ``step``."""
        weight = self.beta * min(1.0, step / self.warmup_steps) if self.warmup_steps else self.beta
        return {"kl": self._kl, "weighted": weight * self._kl}

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images decoded from z ~ N(0, I), in the network's range [-1, 1]."""
        device = next(self.parameters()).device
        z = torch.randn((n, self.latent_dim), generator=generator, device=device)
        return self.decoder(z)
