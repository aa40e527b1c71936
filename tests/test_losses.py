"""The losses of conf/loss/*.yaml (a new loss's config is picked up without editing this file): each is a
criterion ``loss(output, target)`` that is zero on a perfect output, grows with the error and has gradients."""

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from tests.conftest import CONF

CONFIGS = sorted((CONF / "loss").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_loss_is_a_criterion_zero_at_the_target_growing_with_the_error(path):
    loss = instantiate(OmegaConf.load(path))
    assert isinstance(loss, nn.Module)
    target = torch.rand(4, 1, 32, 32) * 2 - 1  # the network's range
    assert float(loss(target.clone(), target)) == 0
    small, large = target + 0.05, target + 0.5
    assert 0 < float(loss(small, target)) < float(loss(large, target))
    output = (target + 0.2).requires_grad_()
    value = loss(output, target)
    assert value.ndim == 0  # one number per batch
    value.backward()
    assert output.grad is not None and output.grad.abs().sum() > 0


def test_the_original_studys_three_losses_are_there():
    assert {p.stem for p in CONFIGS} >= {"l1", "mse", "smooth_l1"}
