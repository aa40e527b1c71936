"""dae: denoising autoencoders with PyTorch Lightning and Hydra."""

from dae import config as _config

_config.register()

__version__ = "0.2.0"
