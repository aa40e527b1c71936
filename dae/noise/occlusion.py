import torch

from dae.noise.base import Noise, check_range, uniform


class Occlusion(Noise):
    """Erased patches: ``count`` rectangles per image set to 0, each side between half and all of
    ``size`` times the image side, centred on a uniformly drawn point (they may overlap and cross
    the border)."""

    name = "occlusion"
    level_name = "size"

    def __init__(self, size: float = 0.3, count: int = 2) -> None:
        self.size = check_range("size", size, 0.0, 1.0)
        self.count = int(check_range("count", count, 0, 64))

    def corrupt(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n, _, h, w = x.shape
        rows = torch.arange(h, device=x.device, dtype=x.dtype).view(1, 1, h, 1) / h
        cols = torch.arange(w, device=x.device, dtype=x.dtype).view(1, 1, 1, w) / w
        erased = torch.zeros((n, 1, h, w), dtype=torch.bool, device=x.device)
        for _ in range(self.count):
            draws = uniform((4, n, 1, 1, 1), x, generator)
            height, width = self.size * (0.5 + 0.5 * draws[0]), self.size * (0.5 + 0.5 * draws[1])
            top, left = draws[2] - height / 2, draws[3] - width / 2
            erased |= (rows >= top) & (rows < top + height) & (cols >= left) & (cols < left + width)
        return x.masked_fill(erased, 0.0)

    def params(self) -> dict[str, float]:
        return {"size": self.size, "count": self.count}
