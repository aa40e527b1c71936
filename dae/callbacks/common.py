"""Helpers shared by the callbacks."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger


def tensorboard(trainer: L.Trainer):
    """The TensorBoard ``SummaryWriter`` of the trainer's loggers, or ``None`` if there is none."""
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            return logger.experiment
    return None
