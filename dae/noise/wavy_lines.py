import torch

from dae.noise.strokes import Strokes


class WavyLines(Strokes):
    """Wavy scratches: ``count`` lines per image on average (all of the first ``floor(count)`` and one more with
    chance ``count - floor(count)``), each between two uniformly drawn points, bent into a triangle wave with
    teeth 1 to 3 pixels high and a period of 3 to 8 pixels, about ``width`` pixels wide, of a brightness between
    half and full."""

    name = "wavy_lines"
    level_name = "count"
    most = 4  # lines drawn at most per image
    draws = 8

    def __init__(self, count: float = 1.0, width: float = 1.2) -> None:
        super().__init__(count, width)

    def stroke(self, x: torch.Tensor, generator: torch.Generator, d: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        r0, c0, r1, c1 = d[1] * h, d[2] * w, d[3] * h, d[4] * w
        length = torch.sqrt((r1 - r0) ** 2 + (c1 - c0) ** 2).clamp_min(1e-6)
        along = ((rows - r0) * (r1 - r0) + (cols - c0) * (c1 - c0)) / length
        across = ((cols - c0) * (r1 - r0) - (rows - r0) * (c1 - c0)) / length
        height, period = 1 + 2 * d[5], 3 + 5 * d[6]
        phase = along / period
        wave = height * (4 * (phase - torch.floor(phase + 0.5)).abs() - 1)  # a triangle wave from -height to height
        distance = (across - wave).abs() / torch.sqrt(1 + (4 * height / period) ** 2)  # across its slanted teeth
        return (1 - distance / self.width).clamp(0, 1) * ((along >= 0) & (along <= length)) * (0.5 + 0.5 * d[7])
