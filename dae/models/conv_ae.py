"""The original study's convolutional autoencoder: plain ``nn.Module``s, no training logic."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dae.errors import ConfigError


def _check_shape(image_size: int, channels: Sequence[int]) -> int:
    side = image_size // 2 ** len(channels)
    if side < 1 or side * 2 ** len(channels) != image_size:
        raise ConfigError(
            f"model.image_size={image_size} cannot be halved {len(channels)} times (one per entry of model.channels={list(channels)}); "
            f"use an image size divisible by {2 ** len(channels)} or fewer channel stages."
        )
    return side


class Encoder(nn.Module):
    """Conv2d stages (kernel 3, stride 2, padding 1), each ReLU then BatchNorm2d; Flatten; Linear to the latent."""

    def __init__(self, in_channels: int = 1, channels: Sequence[int] = (64, 128, 256), latent_dim: int = 128, image_size: int = 32) -> None:
        super().__init__()
        side = _check_shape(image_size, channels)
        layers: list[nn.Module] = []
        prev = in_channels
        for ch in channels:
            layers += [nn.Conv2d(prev, ch, kernel_size=3, stride=2, padding=1), nn.ReLU(inplace=True), nn.BatchNorm2d(ch)]
            prev = ch
        self.features = nn.Sequential(*layers)
        self.to_latent = nn.Sequential(nn.Flatten(), nn.Linear(prev * side * side, latent_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_latent(self.features(x))


class Decoder(nn.Module):
    """Linear from the latent, Unflatten, ConvTranspose2d stages mirroring the encoder, Tanh at the end."""

    def __init__(
        self, out_channels: int = 1, channels: Sequence[int] = (64, 128, 256), latent_dim: int = 128, image_size: int = 32
    ) -> None:
        super().__init__()
        side = _check_shape(image_size, channels)
        widths = list(channels)[::-1] + [out_channels]  # 256 -> 128 -> 64 -> 1
        self.from_latent = nn.Sequential(nn.Linear(latent_dim, widths[0] * side * side), nn.Unflatten(1, (widths[0], side, side)))
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.ConvTranspose2d(a, b, kernel_size=3, stride=2, padding=1, output_padding=1))
            last = i == len(widths) - 2
            layers += [nn.Tanh()] if last else [nn.ReLU(inplace=True), nn.BatchNorm2d(b)]
        self.features = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.features(self.from_latent(z))


class ConvAutoencoder(nn.Module):
    """Encoder + decoder. Works in the network's range [-1, 1]; the LightningModule maps to and from [0, 1]."""

    def __init__(self, in_channels: int = 1, channels: Sequence[int] = (64, 128, 256), latent_dim: int = 128, image_size: int = 32) -> None:
        super().__init__()
        if latent_dim < 1:
            raise ConfigError(f"model.latent_dim={latent_dim} must be a positive integer (default 128).")
        self.latent_dim = latent_dim
        self.encoder = Encoder(in_channels, channels, latent_dim, image_size)
        self.decoder = Decoder(in_channels, channels, latent_dim, image_size)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))
