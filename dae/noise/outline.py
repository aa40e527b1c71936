import torch
import torch.nn.functional as F

from dae.noise.base import Noise, check_range, per_image


class Outline(Noise):
    """Strokes turned into their outlines, as an edge filter draws them (a scan through an edge
    enhancer, a photocopy of a photocopy): the image's gradient magnitude (Sobel), scaled to a
    maximum of 1 per image, blended in by ``strength``; ``strength = 1`` keeps the outlines alone.
    No randomness: the same image always gives the same outline."""

    name = "outline"
    level_name = "strength"
    random = False

    def __init__(self, strength: float = 1.0) -> None:
        self.strength = check_range("strength", strength, 0.0, 1.0)

    def corrupt(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n, c, h, w = x.shape
        smooth = torch.tensor([1.0, 2.0, 1.0], device=x.device, dtype=x.dtype)
        slope = torch.tensor([-1.0, 0.0, 1.0], device=x.device, dtype=x.dtype)
        kernels = torch.stack([torch.outer(smooth, slope), torch.outer(slope, smooth)]).unsqueeze(1)  # d/du, d/dv
        images = F.pad(x.reshape(n * c, 1, h, w), (1, 1, 1, 1), mode="replicate")
        gradient = F.conv2d(images, kernels).square().sum(1, keepdim=True).sqrt().reshape(n, c, h, w)
        edges = gradient / gradient.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
        strength = per_image(self.strength, x)
        return (1 - strength) * x + strength * edges

    def params(self) -> dict[str, float]:
        return {"strength": self.strength}
