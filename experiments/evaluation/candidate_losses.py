"""Two losses that weigh the digit's strokes more than the background (README: "Losses"). They compare
the network's output with the target in its range, [-1, 1], where the background is -1.

Train with one, from the repository root (the same PYTHONPATH for ``python -m dae.probe`` and
``python -m dae.evaluate`` on such a job):

    PYTHONPATH=experiments/evaluation python -m dae.train loss._target_=candidate_losses.StrokeL1 +loss.weight=4.0
    PYTHONPATH=experiments/evaluation python -m dae.train loss._target_=candidate_losses.L1SSIM +loss.alpha=0.5

or, the same, ``python experiments/evaluation/candidate_losses.py stroke +loss.weight=4.0 ...``.
"""

from __future__ import annotations

import sys

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


VARIANTS = {"stroke": StrokeL1, "ssim": L1SSIM}


def main(argv: list[str] | None = None) -> int:
    import launch  # beside this file: python puts the script's folder on the path

    return launch.main(argv, "loss", "candidate_losses", VARIANTS, "stroke +loss.weight=4.0 hydra.run.dir=outputs/evaluation/stroke4")


if __name__ == "__main__":
    sys.exit(main())
