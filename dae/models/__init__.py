"""Networks as plain ``nn.Module``s; a new model is one file here and one config in conf/model/."""

from dae.models.attention_ae import AttentionAutoencoder
from dae.models.classifier import DigitCNN
from dae.models.conv_ae import ConvAutoencoder
from dae.models.unet_ae import UNetAutoencoder
from dae.models.vae import VariationalAutoencoder

__all__ = ["AttentionAutoencoder", "ConvAutoencoder", "DigitCNN", "UNetAutoencoder", "VariationalAutoencoder"]
