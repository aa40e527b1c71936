import torch

from dae.noise.base import Noise, check_range, per_image, uniform


class Dropout(Noise):
    """Dead pixels: each pixel is set to 0 with probability ``rate``, independently."""

    name = "dropout"
    level_name = "rate"

    def __init__(self, rate: float = 0.25) -> None:
        self.rate = check_range("rate", rate, 0.0, 1.0)

    def corrupt(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        rate = per_image(self.rate, x)
        return x * (uniform(x.shape, x, generator) >= rate)

    def params(self) -> dict[str, float]:
        return {"rate": self.rate}
