import math

import torch
import torch.nn.functional as F

from dae.noise.base import Noise, check_range, per_image


class Blur(Noise):
    """Gaussian blur of standard deviation ``sigma`` pixels (a defocused or moving camera): no
    randomness, the same image always blurs the same way. ``sigma = 0`` leaves images unchanged."""

    name = "blur"
    level_name = "sigma"
    random = False

    def __init__(self, sigma: float = 1.0) -> None:
        self.sigma = check_range("sigma", sigma, 0.0, 10.0)

    def corrupt(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n, c, h, w = x.shape
        sigma = per_image(self.sigma, x).reshape(n, 1)  # one per image
        radius = max(1, math.ceil(3 * float(sigma.max())))
        offsets = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype).view(1, -1)
        kernel = torch.exp(-(offsets**2) / (2 * sigma.clamp_min(1e-6) ** 2))
        kernel = kernel / kernel.sum(1, keepdim=True)  # (n, 2 radius + 1); sigma 0 gives a unit impulse
        kernel = kernel.repeat_interleave(c, 0)
        images = F.pad(x.reshape(1, n * c, h, w), (radius,) * 4, mode="replicate")  # one group per image and channel
        images = F.conv2d(images, kernel.view(n * c, 1, 1, -1), groups=n * c)
        images = F.conv2d(images, kernel.view(n * c, 1, -1, 1), groups=n * c)
        return images.reshape(n, c, h, w)

    def params(self) -> dict[str, float]:
        return {"sigma": self.sigma}
