"""dae.denoiser: the plain LightningModule, and subclasses that change what it optimizes."""

from functools import partial

import lightning as L
import pytest
import torch
from lightning.pytorch.loggers import Logger
from torch import nn
from torch.utils.data import DataLoader

from dae.denoiser import Denoiser
from dae.models import ConvAutoencoder

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


def small(cls=Denoiser, **kwargs) -> Denoiser:
    torch.manual_seed(0)
    return cls(ConvAutoencoder(channels=(8, 16), latent_dim=8), nn.L1Loss(), partial(torch.optim.SGD, lr=0.1), **kwargs)


def batches(n: int = 4) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    out = []
    for _ in range(n):
        clean = torch.rand(8, 1, 32, 32, generator=g)
        out.append(((clean + 0.3 * torch.randn(clean.shape, generator=g)).clamp(0, 1), clean, torch.zeros(8, dtype=torch.long)))
    return out


class PullTheLatentBias(Denoiser):
    """A subclass that adds a loss term, as a user would: the latent layer's bias is pulled towards 3."""

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss = super().training_step(batch, batch_idx)
        return loss + (self.net.encoder.to_latent[1].bias - 3).pow(2).mean()


def fit(model: Denoiser, data: list, device: str) -> Denoiser:
    trainer = L.Trainer(
        accelerator=device,
        devices=1,
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, train_dataloaders=DataLoader(data, batch_size=None))  # the batches as they are, in order
    return model.cpu()


def by_hand(model: Denoiser, data: list, extra) -> Denoiser:
    """The same steps as a plain PyTorch loop: loss (plus ``extra``), backward, SGD."""
    optimizer = model.optimizer(params=model.parameters())
    model.train()
    for batch in data:
        _, loss = model.model_step(batch)
        loss = loss + extra(model)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


@pytest.mark.parametrize("device", DEVICES)
def test_a_subclass_that_adds_a_loss_term_trains_as_a_plain_loop_would(device):
    data = batches()
    trained = fit(small(PullTheLatentBias), data, device)
    expected = by_hand(small(PullTheLatentBias), data, lambda m: (m.net.encoder.to_latent[1].bias - 3).pow(2).mean())
    plain = fit(small(), data, device)
    tolerance = 1e-6 if device == "cpu" else 1e-3
    for name, value in expected.state_dict().items():
        assert torch.allclose(trained.state_dict()[name].float(), value.float(), atol=tolerance), name
    bias = trained.net.encoder.to_latent[1].bias
    assert (bias - 3).abs().mean() < (plain.net.encoder.to_latent[1].bias - 3).abs().mean()  # the term was optimized


def test_forward_maps_unit_images_through_the_network_range():
    model = small().eval()
    x = torch.rand(4, 1, 32, 32)
    with torch.no_grad():
        y = model(x)
        assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1
        assert torch.equal(y, model.net(x * 2 - 1).add(1).div(2))
        assert model.encode(x).shape == (4, 8)


def test_model_step_scores_the_output_against_the_clean_images_in_the_network_range():
    model = small().eval()
    noisy, clean, labels = batches(1)[0]
    with torch.no_grad():
        output, loss = model.model_step((noisy, clean, labels))
    assert torch.equal(output, model.net(noisy * 2 - 1))
    assert loss == pytest.approx(float((output - (clean * 2 - 1)).abs().mean()))


def test_channels_last_gives_the_same_numbers():
    torch.manual_seed(0)
    plain = Denoiser(ConvAutoencoder(), nn.L1Loss(), optimizer=None).eval()
    fast = Denoiser(ConvAutoencoder(), nn.L1Loss(), optimizer=None, channels_last=True).eval()
    fast.load_state_dict(plain.state_dict())
    x = torch.rand(8, 1, 32, 32)
    assert fast.net.encoder.features[3].weight.is_contiguous(memory_format=torch.channels_last)
    assert not plain.net.encoder.features[3].weight.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(plain(x), fast(x), atol=1e-5) and torch.allclose(plain.encode(x), fast.encode(x), atol=1e-4)


def test_checkpoints_hold_plain_values_only():
    model = small(crop=3, channels_last=True)
    assert dict(model.hparams) == {"crop": 3, "channels_last": True}  # the objects come from the job's config


class _Written(Logger):
    """The metrics a logger is given, as (step, metrics)."""

    name, version = "written", 0

    def __init__(self) -> None:
        super().__init__()
        self.rows = []

    def log_metrics(self, metrics, step=None) -> None:
        self.rows.append((step, metrics))

    def log_hyperparams(self, params, *args, **kwargs) -> None:
        pass


class _Losses(L.Callback):
    def __init__(self) -> None:
        self.losses = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self.losses.append(float(outputs["loss"]))


def test_the_logger_writes_each_logged_steps_loss_and_the_mean_of_all_steps():
    written, seen = _Written(), _Losses()
    trainer = L.Trainer(
        max_epochs=1, log_every_n_steps=2, logger=written, enable_checkpointing=False, enable_progress_bar=False, callbacks=[seen]
    )
    trainer.fit(small(), train_dataloaders=DataLoader(batches(6), batch_size=None))
    steps = [(step, m["train/loss_step"]) for step, m in written.rows if "train/loss_step" in m]
    assert [step for step, _ in steps] == [1, 3, 5]  # Lightning writes every log_every_n_steps steps (0-based)
    assert [value for _, value in steps] == pytest.approx([seen.losses[i] for i in (1, 3, 5)])
    (epoch,) = [m["train/loss_epoch"] for _, m in written.rows if "train/loss_epoch" in m]
    assert epoch == pytest.approx(sum(seen.losses) / 6, rel=1e-6)
