import torch

from dae.noise.base import Noise, check_range, per_image, uniform


class Inversion(Noise):
    """A region printed in negative (a scan with a dark band, a film's inverted patch): one rectangle per
    image, between ``width / 2`` and ``width`` of the image wide and half to all of it high, inverted
    (``1 - x``) inside."""

    name = "inversion"
    level_name = "width"

    def __init__(self, width: float = 0.3) -> None:
        self.width = check_range("width", width, 0.0, 1.0)

    def corrupt(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n, _, h, w = x.shape
        rows = torch.arange(h, device=x.device, dtype=x.dtype).view(1, 1, h, 1) / h
        cols = torch.arange(w, device=x.device, dtype=x.dtype).view(1, 1, 1, w) / w
        width = per_image(self.width, x)
        d = uniform((4, n, 1, 1, 1), x, generator)
        across, tall = width * (0.5 + 0.5 * d[0]), 0.5 + 0.5 * d[1]
        left, top = d[2] * (1 - across), d[3] * (1 - tall)
        inside = (cols >= left) & (cols < left + across) & (rows >= top) & (rows < top + tall)
        return torch.where(inside, 1 - x, x)

    def params(self) -> dict[str, float]:
        return {"width": self.width}
