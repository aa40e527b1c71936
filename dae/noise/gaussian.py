import torch

from dae.noise.base import Noise, check_range, normal


class Gaussian(Noise):
    """Additive white noise: ``x + sigma * N(0, 1)``."""

    name = "gaussian"
    level_name = "sigma"

    def __init__(self, sigma: float = 0.5) -> None:
        self.sigma = check_range("sigma", sigma)

    def corrupt(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return x + self.sigma * normal(x, generator)

    def params(self) -> dict[str, float]:
        return {"sigma": self.sigma}
