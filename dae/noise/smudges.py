import torch

from dae.noise.base import Noise, check_range, per_image, uniform
from dae.noise.haze import fractal_field


class Smudges(Noise):
    """Dirt and smudges painted over the digit: blobs where a smooth random field is highest, covering
    about ``coverage`` of the image, filled with a grey drawn per image from 0.1 to 0.5, edges softened."""

    name = "smudges"
    level_name = "coverage"

    def __init__(self, coverage: float = 0.15) -> None:
        self.coverage = check_range("coverage", coverage, 0.0, 1.0)

    def corrupt(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        coverage = per_image(self.coverage, x)
        field = fractal_field(x, generator)
        ranked = field.flatten(1).sort(dim=1).values
        at = ((1 - coverage.flatten(1)) * (ranked.shape[1] - 1)).round().long()
        threshold = ranked.gather(1, at).view(-1, 1, 1, 1)  # the field's (1 - coverage) quantile, per image
        mask = ((field - threshold) * 20 + 0.5).clamp(0, 1) * (coverage > 0)  # a soft edge about a pixel wide
        grey = 0.1 + 0.4 * uniform((len(x), 1, 1, 1), x, generator)
        return x * (1 - mask) + grey * mask

    def params(self) -> dict[str, float]:
        return {"coverage": self.coverage}
