"""The original study's autoencoder with self-attention at chosen stages (the original study's first next step)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dae.errors import ConfigError
from dae.models.conv_ae import ConvAutoencoder


class SelfAttention2d(nn.Module):
    """Multi-head self-attention over the positions of a feature map, added to it as a residual
    whose weight ``gamma`` starts at 0 (the block starts as the identity and learns how much to use)."""

    def __init__(self, channels: int, heads: int = 4) -> None:
        super().__init__()
        if channels % heads:
            raise ConfigError(f"model.net.heads={heads} must divide the stage's {channels} channels.")
        self.norm = nn.GroupNorm(1, channels)
        self.attention = nn.MultiheadAttention(channels, heads, batch_first=True)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        tokens = self.norm(x).flatten(2).transpose(1, 2)  # (n, h * w, c)
        attended, _ = self.attention(tokens, tokens, tokens, need_weights=False)
        return x + self.gamma * attended.transpose(1, 2).reshape(n, c, h, w)


class AttentionAutoencoder(ConvAutoencoder):
    """:class:`ConvAutoencoder` with a :class:`SelfAttention2d` block after each encoder stage whose
    ``attention`` entry is true, and at the mirrored place in the decoder. The default, ``[false,
    true, true]``, attends at the 8 x 8 and 4 x 4 feature maps (16 x 16 would cost 16 times more)."""

    def __init__(
        self,
        in_channels: int = 1,
        channels: Sequence[int] = (64, 128, 256),
        latent_dim: int = 128,
        image_size: int = 32,
        attention: Sequence[bool] = (False, True, True),
        heads: int = 4,
    ) -> None:
        super().__init__(in_channels, channels, latent_dim, image_size)
        if len(attention) != len(channels):
            raise ConfigError(
                f"model.net.attention={list(attention)} needs one true/false per encoder stage (model.net.channels={list(channels)})."
            )
        encoder: list[nn.Module] = []
        for i, layer in enumerate(self.encoder.features):  # conv, relu, batchnorm per stage
            encoder.append(layer)
            if i % 3 == 2 and attention[i // 3]:
                encoder.append(SelfAttention2d(channels[i // 3], heads))
        self.encoder.features = nn.Sequential(*encoder)
        if attention[-1]:  # the decoder's first feature map mirrors the encoder's last
            self.decoder.from_latent.append(SelfAttention2d(channels[-1], heads))
        decoder: list[nn.Module] = []
        stage = len(channels) - 2  # the decoder stage outputs mirror encoder stages n-2, ..., 0, then the image
        for layer in self.decoder.features:
            decoder.append(layer)
            if isinstance(layer, nn.BatchNorm2d):
                if attention[stage]:
                    decoder.append(SelfAttention2d(channels[stage], heads))
                stage -= 1
        self.decoder.features = nn.Sequential(*decoder)
