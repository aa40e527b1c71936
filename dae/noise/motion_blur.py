import math

import torch
import torch.nn.functional as F

from dae.noise.base import Noise, check_range, identity_grid, per_image, uniform


class MotionBlur(Noise):
    """A camera or a hand that moved: each image is averaged along a straight path of ``length``
    pixels, centred on each pixel, in a direction drawn uniformly per image. ``length = 0`` leaves
    images unchanged."""

    name = "motion_blur"
    level_name = "length"
    taps = 9  # points sampled along the path (bilinear), enough for paths of a few pixels

    def __init__(self, length: float = 4.0) -> None:
        self.length = check_range("length", length, 0.0, 16.0)

    def corrupt(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n, _, h, w = x.shape
        theta = math.pi * uniform((n, 1, 1), x, generator)
        length = per_image(self.length, x).reshape(n, 1, 1)
        # a shift of s pixels is 2 s / size in grid_sample's [-1, 1] coordinates
        step_x, step_y = torch.cos(theta) * length * 2 / w, torch.sin(theta) * length * 2 / h
        base = identity_grid(x)
        out = torch.zeros_like(x)
        for t in torch.linspace(-0.5, 0.5, self.taps).tolist():
            shift = torch.cat([step_x * t, step_y * t], -1).unsqueeze(1)  # (n, 1, 1, 2)
            out += F.grid_sample(x, base + shift, mode="bilinear", padding_mode="zeros", align_corners=False)
        return out / self.taps

    def params(self) -> dict[str, float]:
        return {"length": self.length}
