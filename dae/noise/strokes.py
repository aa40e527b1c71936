import torch

from dae.noise.base import Noise, check_range, per_image, uniform


class Strokes(Noise):
    """Stray pen strokes and scratches: ``count`` strokes per image on average (all of the first
    ``floor(count)`` and one more with chance ``count - floor(count)``), about ``width`` pixels wide, of a
    brightness between half and full. A stroke is a straight line between two uniformly drawn points,
    dashed on half of them, or, one time in three, a scribble of short segments that turn at random."""

    name = "strokes"
    level_name = "count"
    most = 6  # strokes drawn at most per image

    def __init__(self, count: float = 1.0, width: float = 1.5) -> None:
        self.count = check_range("count", count, 0.0, float(self.most))
        self.width = check_range("width", width, 0.5, 4.0)

    draws = 9  # uniform draws per stroke and image: d[0] whether it is drawn, the rest for :meth:`stroke`

    def corrupt(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n, _, h, w = x.shape
        rows = torch.arange(h, device=x.device, dtype=x.dtype).view(1, 1, h, 1)
        cols = torch.arange(w, device=x.device, dtype=x.dtype).view(1, 1, 1, w)
        count = per_image(self.count, x)
        ink = torch.zeros_like(x)
        for k in range(self.most):
            d = uniform((self.draws, n, 1, 1, 1), x, generator)
            drawn = (k + d[0]) < count  # stroke k of an image with count c: all of them below floor(c), one more with chance frac(c)
            ink = torch.maximum(ink, self.stroke(x, generator, d, rows, cols) * drawn)
        return torch.maximum(x, ink)

    def stroke(self, x: torch.Tensor, generator: torch.Generator, d: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """One stroke per image, from its draws ``d``: its ink, in [0, 1]."""
        h, w = x.shape[-2:]
        r0, c0, r1, c1 = d[1] * h, d[2] * w, d[3] * h, d[4] * w
        dr, dc = r1 - r0, c1 - c0
        t = (((rows - r0) * dr + (cols - c0) * dc) / (dr**2 + dc**2).clamp_min(1e-6)).clamp(0, 1)
        distance = torch.sqrt((rows - r0 - t * dr) ** 2 + (cols - c0 - t * dc) ** 2)
        line = (1 - distance / self.width).clamp(0, 1) * (0.5 + 0.5 * d[5])
        dashed = d[6] < 0.5
        gap = torch.sin(t * (dr**2 + dc**2).sqrt() * (0.8 + 1.2 * d[7])) < 0  # dashes 1.3 to 4 pixels long
        line = line.masked_fill(dashed & gap, 0.0)
        return torch.where(d[8] < 1 / 3, self.scribble(x, generator, rows, cols), line)  # a scribble one time in three

    def scribble(self, x: torch.Tensor, generator: torch.Generator, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """One scribble per image: 8 segments of 2 to 5 pixels, each turned by up to 140 degrees from the last."""
        n, _, h, w = x.shape
        start = uniform((2, n, 1, 1, 1), x, generator)
        r, c = h * (0.2 + 0.6 * start[0]), w * (0.2 + 0.6 * start[1])
        heading = 6.2832 * uniform((n, 1, 1, 1), x, generator)
        ink = torch.zeros_like(x)
        for _ in range(8):
            d = uniform((2, n, 1, 1, 1), x, generator)
            heading = heading + 2.44 * (d[0] - 0.5)
            length = 2 + 3 * d[1]
            r1, c1 = r + length * torch.sin(heading), c + length * torch.cos(heading)
            t = (((rows - r) * (r1 - r) + (cols - c) * (c1 - c)) / length**2).clamp(0, 1)
            distance = torch.sqrt((rows - r - t * (r1 - r)) ** 2 + (cols - c - t * (c1 - c)) ** 2)
            ink = torch.maximum(ink, (1 - distance / self.width).clamp(0, 1))
            r, c = r1, c1
        return ink

    def params(self) -> dict[str, float]:
        return {"count": self.count, "width": self.width}
