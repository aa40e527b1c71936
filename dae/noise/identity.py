import torch

from dae.noise.base import Noise


class Identity(Noise):
    """No noise: the autoencoder learns plain reconstruction (``noise=none``)."""

    name = "none"
    random = False

    def corrupt(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return x.clone()
