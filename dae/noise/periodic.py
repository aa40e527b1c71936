import math

import torch

from dae.noise.base import Noise, check_range, uniform


class Periodic(Noise):
    """A sinusoidal grating over the image, as from electrical interference:
    ``x + A sin(2 pi f (u cos(theta) + v sin(theta)) + phi)``.

    ``u, v`` are the pixel coordinates divided by the image size, so ``f`` counts cycles
    per image; ``f`` is drawn per image from ``[freq_min, freq_max]``, ``theta`` and ``phi``
    uniformly from ``[0, 2 pi)``.
    """

    name = "periodic"
    level_name = "amplitude"

    def __init__(self, amplitude: float = 0.4, freq_min: float = 2.0, freq_max: float = 8.0) -> None:
        self.amplitude = check_range("amplitude", amplitude)
        self.freq_min = check_range("freq_min", freq_min)
        self.freq_max = check_range("freq_max", freq_max, low=self.freq_min)

    def corrupt(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n, _, h, w = x.shape
        draws = uniform((3, n, 1, 1), x, generator)
        freq = self.freq_min + (self.freq_max - self.freq_min) * draws[0]
        theta, phi = 2 * math.pi * draws[1], 2 * math.pi * draws[2]
        v = torch.arange(h, device=x.device, dtype=x.dtype).view(1, h, 1) / h
        u = torch.arange(w, device=x.device, dtype=x.dtype).view(1, 1, w) / w
        wave = torch.sin(2 * math.pi * freq * (u * torch.cos(theta) + v * torch.sin(theta)) + phi)
        return x + self.amplitude * wave.unsqueeze(1)

    def params(self) -> dict[str, float]:
        return {"amplitude": self.amplitude, "freq_min": self.freq_min, "freq_max": self.freq_max}
