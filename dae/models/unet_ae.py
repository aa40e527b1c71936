"""The original study's autoencoder with skip connections (a small U-Net): no 128-d bottleneck to squeeze
every detail through, so it is not capped at low noise."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dae.models.conv_ae import _check_shape


class UNetAutoencoder(nn.Module):
    """Encoder: Conv2d stages (kernel 3, stride 2, padding 1), each ReLU then BatchNorm2d, as in the original
    study. Decoder: ConvTranspose2d stages mirroring them; each stage's output is concatenated with
    the encoder features of the same size and mixed by a 3 x 3 convolution (the skip connection).
    ``residual=true`` predicts the noise: the output is ``tanh(input + correction)``.

    :meth:`encode` returns the deepest encoder features averaged over their 4 x 4 positions (256
    values for the default widths): the vectors the SVM probe reads.
    """

    def __init__(
        self, in_channels: int = 1, channels: Sequence[int] = (64, 128, 256), image_size: int = 32, residual: bool = False
    ) -> None:
        super().__init__()
        _check_shape(image_size, channels)
        self.residual = residual
        self.down = nn.ModuleList()
        prev = in_channels
        for ch in channels:
            self.down.append(nn.Sequential(nn.Conv2d(prev, ch, 3, stride=2, padding=1), nn.ReLU(inplace=True), nn.BatchNorm2d(ch)))
            prev = ch
        skips = [in_channels, *channels[:-1]][::-1]  # the features each decoder stage meets: 128, 64, input
        widths = list(channels)[::-1][1:] + [32]  # decoder stage outputs: 128, 64, 32
        self.up, self.merge = nn.ModuleList(), nn.ModuleList()
        for skip, width in zip(skips, widths):
            self.up.append(
                nn.Sequential(
                    nn.ConvTranspose2d(prev, width, 3, stride=2, padding=1, output_padding=1), nn.ReLU(inplace=True), nn.BatchNorm2d(width)
                )
            )
            self.merge.append(nn.Sequential(nn.Conv2d(width + skip, width, 3, padding=1), nn.ReLU(inplace=True), nn.BatchNorm2d(width)))
            prev = width
        self.out = nn.Conv2d(prev, in_channels, 1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.down:
            x = stage(x)
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        h = x
        for stage in self.down:
            h = stage(h)
            features.append(h)
        for up, merge, skip in zip(self.up, self.merge, features[-2::-1]):
            h = merge(torch.cat([up(h), skip], dim=1))
        correction = self.out(h)
        return torch.tanh(x + correction) if self.residual else torch.tanh(correction)
