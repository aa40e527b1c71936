"""Data augmentation in training, tried against the SVM probe (README: "What does not lift the probe").

:class:`ShiftDenoiser` moves each training batch, its noisy inputs and clean targets alike, by one random
shift of up to ``shift`` pixels each way before the usual step: the encoder sees each digit at more
positions than MNIST's centred ones. The 2-pixel padding and MNIST's empty border keep the digits in
frame, and the Gaussian noise moved with them is still Gaussian noise.

:class:`AffineDenoiser` gives each clean training image its own small random rotation (up to ``degrees``),
scale (1 ± ``scale``) and shift (up to ``shift`` pixels), then draws the run's noise afresh on the moved
image (the noise is then that of the configured level; ``data.train_levels`` and ``data.clean_fraction``
are not applied to it).

:class:`MaskDenoiser` sets a random share ``mask`` of each noisy training input's pixels to 0 (masking
noise), on top of the run's noise: the encoder has to fill in strokes from their context. Validation and
test inputs are not masked.

Train with one, from the repository root (the same PYTHONPATH for ``python -m dae.probe`` and
``python -m dae.evaluate`` on such a job, which rebuild the model from its config):

    PYTHONPATH=experiments/evaluation python -m dae.train model._target_=augment.ShiftDenoiser +model.shift=2
    PYTHONPATH=experiments/evaluation python -m dae.train model._target_=augment.AffineDenoiser +model.degrees=10
    PYTHONPATH=experiments/evaluation python -m dae.train model._target_=augment.MaskDenoiser +model.mask=0.25

or, the same, ``python experiments/evaluation/augment.py shift +model.shift=2 ...``.
"""

from __future__ import annotations

import math
import sys

import torch
import torch.nn.functional as F

from dae.denoiser import Denoiser


def check_shift(shift: float) -> None:
    if not 0 <= shift <= 4:
        raise ValueError(f"model.shift={shift}: expected 0 to 4 pixels (more pushes digits out of the 32 x 32 frame).")


class ShiftDenoiser(Denoiser):
    def __init__(self, *args, shift: int = 2, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        check_shift(shift)
        self.shift = shift

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        noisy, clean, labels = batch
        dy, dx = (int(v) for v in torch.randint(-self.shift, self.shift + 1, (2,)))
        noisy, clean = (torch.roll(t, shifts=(dy, dx), dims=(-2, -1)) for t in (noisy, clean))
        return super().training_step((noisy, clean, labels), batch_idx)


class AffineDenoiser(Denoiser):
    def __init__(self, *args, degrees: float = 10.0, scale: float = 0.1, shift: float = 2.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        check_shift(shift)
        if not (0 <= degrees <= 45 and 0 <= scale < 0.5):
            raise ValueError(f"model.degrees={degrees}, model.scale={scale}: expected 0 to 45 degrees and a scale change under 0.5.")
        self.degrees, self.scale, self.shift = degrees, scale, shift

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        _, clean, labels = batch
        n, size = len(clean), clean.shape[-1]

        def draw(limit: float) -> torch.Tensor:  # uniform in [-limit, limit], one per image
            return (torch.rand(n, device=clean.device) * 2 - 1) * limit

        angle, zoom = draw(math.radians(self.degrees)), 1 + draw(self.scale)
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.stack(
            [torch.stack([cos, -sin, draw(2 * self.shift / size)], 1), torch.stack([sin, cos, draw(2 * self.shift / size)], 1)], 1
        )
        grid = F.affine_grid(theta, list(clean.shape), align_corners=False)
        moved = F.grid_sample(clean.float(), grid, align_corners=False).to(clean.dtype).clamp_(0, 1)
        noisy = self.trainer.datamodule.noise(moved, None)
        return super().training_step((noisy, moved, labels), batch_idx)


class MaskDenoiser(Denoiser):
    def __init__(self, *args, mask: float = 0.25, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not 0 <= mask < 1:
            raise ValueError(f"model.mask={mask}: expected a share of pixels in [0, 1).")
        self.mask = mask

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        noisy, clean, labels = batch
        keep = torch.rand(noisy.shape, device=noisy.device) >= self.mask
        return super().training_step((noisy * keep, clean, labels), batch_idx)


VARIANTS = {"shift": ShiftDenoiser, "affine": AffineDenoiser, "mask": MaskDenoiser}


def main(argv: list[str] | None = None) -> int:
    import launch  # beside this file: python puts the script's folder on the path

    return launch.main(
        argv, "model", "augment", VARIANTS, "shift +model.shift=2 callbacks=with_probe hydra.run.dir=outputs/evaluation/shift2"
    )


if __name__ == "__main__":
    sys.exit(main())
