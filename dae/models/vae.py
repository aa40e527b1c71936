"""A convolutional variational autoencoder on the original study's backbone."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dae.models.conv_ae import ConvAutoencoder


class VariationalAutoencoder(ConvAutoencoder):
    """The study's encoder to a mean and a log-variance; a sample ``z = mean + std * eps`` while
    training, the mean when evaluating; the study's decoder.

    :meth:`reconstruct` also returns the mean and log-variance, which the training loss needs for
    its KL term (:class:`dae.variational.VariationalDenoiser`). :meth:`encode` is the mean, which
    the probe reads; :meth:`sample` decodes draws from the prior.
    """

    def __init__(self, in_channels: int = 1, channels: Sequence[int] = (64, 128, 256), latent_dim: int = 128, image_size: int = 32) -> None:
        super().__init__(in_channels, channels, latent_dim, image_size)
        last = self.encoder.to_latent[-1]
        self.encoder.to_latent[-1] = nn.Linear(last.in_features, 2 * latent_dim)  # mean and log-variance

    def moments(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_var = self.encoder(x).chunk(2, dim=1)
        return mean, log_var.clamp(-10, 10)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.moments(x)[0]

    def reconstruct(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The decoded output with the mean and log-variance it came from."""
        mean, log_var = self.moments(x)
        z = mean + torch.randn_like(mean) * (0.5 * log_var).exp() if self.training else mean
        return self.decoder(z), mean, log_var

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reconstruct(x)[0]

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images decoded from z ~ N(0, I), in the network's range [-1, 1]."""
        device = next(self.parameters()).device
        z = torch.randn((n, self.latent_dim), generator=generator, device=device)
        return self.decoder(z)


def kl_divergence(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(log_var)) || N(0, I)) per latent dimension, averaged over the batch."""
    return 0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var).mean()
