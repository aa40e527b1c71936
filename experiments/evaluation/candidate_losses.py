"""Two losses tried against the sigma = 0.5 marks (README: "Losses that weigh the strokes"); the
network's range is [-1, 1] with the background at -1. Used as, from the repository root:

    PYTHONPATH=experiments/evaluation python -m dae.train loss._target_=candidate_losses.StrokeL1 +loss.weight=4.0
    PYTHONPATH=experiments/evaluation python -m dae.train loss._target_=candidate_losses.L1SSIM +loss.alpha=0.5
"""

import torch.nn.functional as F
from torch import nn
from torchmetrics.functional.image import structural_similarity_index_measure as ssim


class StrokeL1(nn.Module):
    """L1 with the stroke pixels (target above the background) weighted ``1 + weight``."""

    def __init__(self, weight: float = 4.0) -> None:
        super().__init__()
        self.weight = weight

    def forward(self, output, target):
        w = 1 + self.weight * (target > -0.9).float()
        return (w * (output - target).abs()).sum() / w.sum()


class L1SSIM(nn.Module):
    """``alpha * L1 + (1 - alpha) * (1 - SSIM)``, SSIM on the images mapped to [0, 1]."""

    def __init__(self, alpha: float = 0.5) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, output, target):
        structure = ssim(output.float().add(1).div(2), target.float().add(1).div(2), data_range=1.0)
        return self.alpha * F.l1_loss(output, target) + (1 - self.alpha) * (1 - structure)
