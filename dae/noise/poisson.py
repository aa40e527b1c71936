import torch

from dae.noise.base import Noise, check_range


class Poisson(Noise):
    """Shot noise: each pixel counts ``Poisson(x * peak)`` photons, divided by ``peak``. The mean is
    the clean image; the variance is ``x / peak``, so a lower peak is a noisier image."""

    name = "poisson"
    level_name = "peak"

    def __init__(self, peak: float = 10.0) -> None:
        self.peak = check_range("peak", peak, low=1e-3)

    def corrupt(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return torch.poisson(x * self.peak, generator=generator) / self.peak

    def params(self) -> dict[str, float]:
        return {"peak": self.peak}
