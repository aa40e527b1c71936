"""dae.optim: the optimizer and the schedule Lightning gets from the configs' partials."""

from functools import partial
from types import SimpleNamespace

import torch

from dae.optim import configure_optimizers


class Module(torch.nn.Linear):
    trainer = SimpleNamespace(estimated_stepping_batches=120)


def test_one_cycle_runs_over_every_step_and_is_stepped_per_batch():
    config = configure_optimizers(
        Module(2, 2), partial(torch.optim.Adam, lr=1e-3), partial(torch.optim.lr_scheduler.OneCycleLR, max_lr=3e-3)
    )
    schedule = config["lr_scheduler"]
    assert schedule["interval"] == "step" and schedule["scheduler"].total_steps == 120
    assert isinstance(config["optimizer"], torch.optim.Adam)


def test_other_schedules_step_per_epoch_and_none_leaves_the_optimizer_alone():
    config = configure_optimizers(
        Module(2, 2), partial(torch.optim.SGD, lr=0.1), partial(torch.optim.lr_scheduler.CosineAnnealingLR, T_max=5)
    )
    assert config["lr_scheduler"]["interval"] == "epoch" and config["lr_scheduler"]["scheduler"].T_max == 5
    module = Module(2, 2)
    optimizer = configure_optimizers(module, partial(torch.optim.SGD, lr=0.1))
    assert isinstance(optimizer, torch.optim.SGD) and optimizer.param_groups[0]["params"] == list(module.parameters())
