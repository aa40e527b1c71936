"""Optimizer and learning-rate schedule for a LightningModule, from the partials the configs build."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import lightning as L
import torch

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., torch.optim.lr_scheduler.LRScheduler]


def configure_optimizers(module: L.LightningModule, optimizer: OptimizerFactory, scheduler: SchedulerFactory | None = None):
    """What ``configure_optimizers`` returns: the optimizer over the module's parameters and, if
    given, its schedule. A schedule that takes ``total_steps`` (one-cycle) gets the run's number of
    optimizer steps and is stepped per batch; any other is stepped per epoch."""
    optimizer = optimizer(params=module.parameters())
    if not scheduler:
        return optimizer
    if "total_steps" in inspect.signature(getattr(scheduler, "func", scheduler)).parameters:
        schedule = scheduler(optimizer=optimizer, total_steps=module.trainer.estimated_stepping_batches)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler(optimizer=optimizer), "interval": "epoch"}}
