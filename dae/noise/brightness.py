import torch

from dae.noise.base import Noise, check_range, per_image, uniform


class Brightness(Noise):
    """Exposure and contrast shifts: each image is lifted by ``b`` and its contrast scaled by ``g``,
    ``b + g x``, with ``b`` uniform in ``[0, shift]`` and ``g`` uniform in ``[1 - shift, 1]`` per image
    (a grey background, faded strokes)."""

    name = "brightness"
    level_name = "shift"

    def __init__(self, shift: float = 0.5) -> None:
        self.shift = check_range("shift", shift, 0.0, 0.9)

    def corrupt(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        shift = per_image(self.shift, x)
        draws = uniform((2, len(x), 1, 1, 1), x, generator)
        return shift * draws[0] + (1 - shift * draws[1]) * x

    def params(self) -> dict[str, float]:
        return {"shift": self.shift}
