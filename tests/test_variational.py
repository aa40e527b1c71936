"""dae.variational and dae.models.vae: the VAE's network and the LightningModule that adds its KL term."""

from functools import partial

import pytest
import torch
from torch import nn

from dae.models import ConvAutoencoder, VariationalAutoencoder
from dae.models.vae import kl_divergence
from dae.variational import VariationalDenoiser


def system(**kwargs) -> VariationalDenoiser:
    torch.manual_seed(0)
    return VariationalDenoiser(VariationalAutoencoder(), nn.L1Loss(), partial(torch.optim.Adam, lr=1e-3), **kwargs)


def test_network_samples_while_training_and_reads_the_mean_otherwise():
    net = VariationalAutoencoder()
    x = torch.rand(4, 1, 32, 32) * 2 - 1
    net.train()
    assert not torch.equal(net(x), net(x))  # z drawn around the mean
    net.eval()
    output, mean, log_var = net.reconstruct(x)
    assert torch.equal(net(x), output) and torch.equal(net.encode(x), mean) and mean.shape == log_var.shape == (4, 128)
    assert net.sample(6, torch.Generator().manual_seed(0)).shape == (6, 1, 32, 32)


def test_kl_is_zero_at_the_prior_and_positive_elsewhere():
    zeros = torch.zeros(2, 128)
    assert kl_divergence(zeros, zeros) == 0
    assert kl_divergence(zeros + 1, zeros) == pytest.approx(0.5)  # 0.5 * mean(mean^2)


def test_kl_weight_warms_up_linearly_to_beta():
    model = system(beta=0.5, warmup_steps=100)
    assert [model.kl_weight(s) for s in (0, 50, 100, 1000)] == [0.0, 0.25, 0.5, 0.5]
    assert system(beta=0.5, warmup_steps=0).kl_weight(0) == 0.5


def test_training_loss_is_reconstruction_plus_weighted_kl(monkeypatch):
    model = system(beta=0.5, warmup_steps=0).train()
    logged = {}
    monkeypatch.setattr(model, "log", lambda name, value, **kwargs: logged.__setitem__(name, value))
    monkeypatch.setattr(model, "log_train_loss", lambda loss, n, batch_idx: logged.__setitem__("train/loss", loss))
    clean = torch.rand(4, 1, 32, 32)
    torch.manual_seed(1)
    loss = model.training_step((clean, clean, torch.zeros(4, dtype=torch.long)), 0)
    assert {"train/loss", "train/reconstruction", "train/kl"} <= logged.keys()
    assert float(loss) == pytest.approx(float(logged["train/reconstruction"] + 0.5 * logged["train/kl"]))
    assert logged["train/kl"] > 0


def test_sample_is_in_unit_range_and_bad_settings_are_refused():
    images = system().sample(3, torch.Generator().manual_seed(0))
    assert images.shape == (3, 1, 32, 32) and 0 <= images.min() and images.max() <= 1
    with pytest.raises(ValueError, match=r"model.beta=-1 and model.warmup_steps=0 must be >= 0"):
        system(beta=-1, warmup_steps=0)
    with pytest.raises(ValueError, match=r"model.net is a ConvAutoencoder; VariationalDenoiser trains a dae.models.VariationalAutoencoder"):
        VariationalDenoiser(ConvAutoencoder(), nn.L1Loss(), None)
