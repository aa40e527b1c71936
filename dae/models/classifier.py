"""Classifier M: a small CNN that reads digits, used to judge what the autoencoder outputs."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dae.errors import ConfigError


class DigitCNN(nn.Module):
    """Conv 3x3 + BatchNorm + ReLU + MaxPool per stage, then dropout and a linear layer to the classes.

    Takes [0, 1] images ``(N, 1, S, S)``; returns logits ``(N, num_classes)``.
    """

    def __init__(self, channels: Sequence[int] = (32, 64, 128), num_classes: int = 10, image_size: int = 32, dropout: float = 0.25) -> None:
        super().__init__()
        side = image_size // 2 ** len(channels)
        if side < 1:
            raise ConfigError(f"classifier.net.image_size={image_size} is too small for {len(channels)} pooling stages.")
        layers: list[nn.Module] = []
        prev = 1
        for ch in channels:
            layers += [nn.Conv2d(prev, ch, 3, padding=1, bias=False), nn.BatchNorm2d(ch), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            prev = ch
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(prev * side * side, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
