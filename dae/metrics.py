"""Image-quality metrics of a denoiser: PSNR and SSIM of its outputs, PSNR of its noisy inputs, its loss."""

from __future__ import annotations

import math

import torch
from torch import nn
from torchmetrics import MeanMetric
from torchmetrics.image import StructuralSimilarityIndexMeasure

# The smallest mean squared error a PSNR is taken of: the error of rounding to 8-bit pixels, (1/255)^2 / 12. Two
# images the same to within it score 58.92 dB, not infinity, so that a mean over images stays finite when some
# inputs are clean (noise.clean, data.clean_fraction) or a denoiser returns a digit exactly.
MSE_FLOOR = (1 / 255) ** 2 / 12
PSNR_CAP = -10 * math.log10(MSE_FLOOR)


def psnr(images: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """The PSNR of each image in ``images`` (``(N, C, H, W)`` in [0, 1]) against ``clean``, in dB, at most
    :data:`PSNR_CAP`."""
    mse = (images.float() - clean.float()).pow(2).flatten(1).mean(1)
    return -10 * torch.log10(mse.clamp_min(MSE_FLOOR))


class ImageQuality(nn.Module):
    """Per-image PSNR and SSIM of the denoised output, PSNR of the noisy input, and the mean loss; a PSNR is
    the mean of per-image values, each at most :data:`PSNR_CAP`.

    Images are in [0, 1]; ``crop`` pixels are cut from each border first, so that the
    scores cover the original 28 x 28 area, not the padding.
    """

    def __init__(self, crop: int = 2) -> None:
        super().__init__()
        self.crop = crop
        self.psnr = MeanMetric()
        self.noisy_psnr = MeanMetric()
        self.ssim = StructuralSimilarityIndexMeasure(data_range=1.0)
        self.loss = MeanMetric()

    def _cut(self, x: torch.Tensor) -> torch.Tensor:
        c = self.crop
        return x[..., c : x.shape[-2] - c, c : x.shape[-1] - c] if c else x

    def update(self, noisy: torch.Tensor, denoised: torch.Tensor, clean: torch.Tensor, loss: torch.Tensor) -> None:
        noisy, denoised, clean = self._cut(noisy).float(), self._cut(denoised).float(), self._cut(clean).float()
        self.psnr.update(psnr(denoised, clean))
        self.ssim.update(denoised, clean)
        self.noisy_psnr.update(psnr(noisy, clean))
        self.loss.update(loss.detach().float(), weight=len(clean))

    def compute(self) -> dict[str, torch.Tensor]:
        return {
            "psnr": self.psnr.compute(),
            "ssim": self.ssim.compute(),
            "noisy_psnr": self.noisy_psnr.compute(),
            "loss": self.loss.compute(),
        }

    def reset(self) -> None:
        for metric in (self.psnr, self.ssim, self.noisy_psnr, self.loss):
            metric.reset()


def image_quality(denoised: torch.Tensor, noisy: torch.Tensor, clean: torch.Tensor, crop: int) -> dict[str, float]:
    """PSNR and SSIM of ``denoised`` against ``clean``, and PSNR of ``noisy``, over the area inside
    ``crop`` pixels of the border: how any denoiser's outputs are scored, as numbers."""
    quality = ImageQuality(crop)
    quality.update(noisy, denoised, clean, torch.zeros(()))
    scores = quality.compute()
    return {"noisy_psnr": float(scores["noisy_psnr"]), "psnr": float(scores["psnr"]), "ssim": float(scores["ssim"])}
