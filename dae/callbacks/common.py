"""Helpers shared by the callbacks that draw or probe."""

from __future__ import annotations

from contextlib import contextmanager

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger


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


def tensorboard(trainer: L.Trainer):
    """The TensorBoard ``SummaryWriter`` of the trainer's loggers, or ``None`` if there is none."""
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            return logger.experiment
    return None
