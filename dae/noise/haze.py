import torch
import torch.nn.functional as F

from dae.noise.base import Noise, check_range, per_image, uniform

OCTAVES = (2, 4, 8, 16)  # cells across the image, coarse to fine


def fractal_field(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A smooth random field per image, ``(N, 1, H, W)`` in [0, 1]: octaves of random cells, upsampled and
    summed, each finer one weighted by ``r`` times the last (``r`` drawn per image from 0.3 to 0.8: smooth
    to rough)."""
    n, _, h, w = x.shape
    roughness = 0.3 + 0.5 * uniform((n, 1, 1, 1), x, generator)
    field = torch.zeros((n, 1, h, w), device=x.device, dtype=x.dtype)
    for k, cells in enumerate(OCTAVES):
        coarse = uniform((n, 1, cells, cells), x, generator)
        field += roughness**k * F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False)
    low = field.amin((2, 3), keepdim=True)
    return (field - low) / (field.amax((2, 3), keepdim=True) - low).clamp_min(1e-6)


class Haze(Noise):
    """A smooth, uneven veil over the image (fog, uneven lighting): a fractal field between 0 and
    ``strength`` (:func:`fractal_field`) added to the image, which is then divided by ``1 + u strength``
    (``u`` uniform per image): from a plain veil to fog that also dims the strokes."""

    name = "haze"
    level_name = "strength"

    def __init__(self, strength: float = 1.0) -> None:
        self.strength = check_range("strength", strength, 0.0, 10.0)

    def corrupt(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        strength = per_image(self.strength, x)
        field = fractal_field(x, generator)
        return (x + strength * field) / (1 + strength * uniform((len(x), 1, 1, 1), x, generator))

    def params(self) -> dict[str, float]:
        return {"strength": self.strength}
