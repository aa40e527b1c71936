"""Running a trained network over many images: eval mode, no gradients, in batches."""

from __future__ import annotations

from contextlib import contextmanager

import lightning as L
import torch
from tqdm.auto import tqdm


@contextmanager
def evaluating(module: torch.nn.Module):
    """Eval mode and no gradients for the block; the previous mode is restored after."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            yield module
    finally:
        module.train(was_training)


def in_batches(fn, images: torch.Tensor, device: torch.device | str, batch_size: int = 1000, desc: str | None = None) -> torch.Tensor:
    """``fn`` applied to ``images`` in batches on ``device``; the results concatenated on the CPU.
    Call it inside :func:`evaluating` (no gradients)."""
    starts = range(0, len(images), batch_size)
    return torch.cat([fn(images[i : i + batch_size].to(device, non_blocking=True)).float().cpu() for i in tqdm(starts, desc=desc, leave=False, disable=desc is None)])


def denoise(module: L.LightningModule, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The module's outputs for [0, 1] images, in batches on its device, back on the CPU."""
    with evaluating(module):
        return in_batches(module, images, module.device, batch_size).clamp_(0, 1)
