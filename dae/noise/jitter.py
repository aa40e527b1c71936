import torch
import torch.nn.functional as F

from dae.noise.base import Noise, check_range, identity_grid, per_image, uniform


class Jitter(Noise):
    """Frosted or warped glass: each pixel shows the image at a point up to ``reach`` pixels away along each axis,
    drawn independently per pixel (bilinear), so that strokes frizz and break up without moving as a whole.
    ``reach = 0`` leaves images unchanged."""

    name = "jitter"
    level_name = "reach"

    def __init__(self, reach: float = 1.0) -> None:
        self.reach = check_range("reach", reach, 0.0, 4.0)

    def corrupt(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n, _, h, w = x.shape
        base = identity_grid(x)
        reach = per_image(self.reach, x).reshape(n, 1, 1, 1)
        offsets = (2 * uniform((n, h, w, 2), x, generator) - 1) * reach  # pixels, along each axis
        scale = torch.tensor([2 / w, 2 / h], device=x.device, dtype=x.dtype)  # a pixel in grid_sample's [-1, 1] coordinates
        return F.grid_sample(x, base + offsets * scale, mode="bilinear", padding_mode="zeros", align_corners=False)

    def params(self) -> dict[str, float]:
        return {"reach": self.reach}
