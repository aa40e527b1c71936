"""dae.models: the properties every model shares, run on each conf/model/*.yaml (a new model's config
is picked up without editing this file), then each network's own structure."""

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from dae.denoiser import Denoiser
from dae.models import AttentionAutoencoder, ConvAutoencoder, UNetAutoencoder
from dae.models.attention_ae import SelfAttention2d
from tests.conftest import CONF, compose_train

CONFIGS = sorted((CONF / "model").glob("*.yaml"))
IDS = [path.stem for path in CONFIGS]


def build(path: Path, tmp_path: Path) -> Denoiser:
    cfg = compose_train([f"model={path.stem}"], tmp_path)
    torch.manual_seed(0)
    return instantiate(cfg.model, loss=instantiate(cfg.loss))


@pytest.mark.parametrize("path", CONFIGS, ids=IDS)
def test_network_keeps_the_shape_in_the_network_range_and_encodes_to_vectors(path, tmp_path):
    model = build(path, tmp_path)
    assert isinstance(model, Denoiser)
    net = model.net.eval()
    x = torch.rand(5, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        y, z = net(x), net.encode(x)
    assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1  # Tanh output
    assert z.ndim == 2 and z.shape[0] == 5 and z.shape[1] > 0  # what the SVM probe reads
    with torch.no_grad():
        assert torch.equal(net.encode(x), z)  # deterministic when evaluating


@pytest.mark.parametrize("path", CONFIGS, ids=IDS)
def test_one_training_step_reaches_every_weight(path, tmp_path):
    model = build(path, tmp_path).train()
    clean = torch.rand(4, 1, 32, 32)
    loss = model.model_step((clean.clamp(0.1, 0.9), clean, torch.zeros(4, dtype=torch.long)))[1]
    loss.backward()
    assert torch.isfinite(loss)
    # Self-attention blocks start as the identity (their residual weight gamma is 0): only gamma learns at first.
    waiting = {
        f"{prefix}.{name}"
        for prefix, block in model.named_modules()
        if isinstance(block, SelfAttention2d)
        for name, _ in block.named_parameters()
        if name != "gamma"
    }
    untouched = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert set(untouched) == waiting


def test_shapes_32_in_latent_and_32_out():
    model = ConvAutoencoder(latent_dim=128)
    x = torch.rand(5, 1, 32, 32) * 2 - 1
    z = model.encode(x)
    y = model(x)
    assert z.shape == (5, 128)
    assert y.shape == (5, 1, 32, 32)
    assert y.min() >= -1 and y.max() <= 1  # Tanh output


def test_conv_ae_follows_the_original_study_layer_by_layer():
    model = ConvAutoencoder()
    convs = [m for m in model.encoder.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding) for c in convs] == [
        (1, 64, (3, 3), (2, 2), (1, 1)),
        (64, 128, (3, 3), (2, 2), (1, 1)),
        (128, 256, (3, 3), (2, 2), (1, 1)),
    ]
    kinds = [type(m).__name__ for m in model.encoder.features]
    assert kinds == ["Conv2d", "ReLU", "BatchNorm2d"] * 3
    deconvs = [m for m in model.decoder.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(d.in_channels, d.out_channels, d.output_padding) for d in deconvs] == [(256, 128, (1, 1)), (128, 64, (1, 1)), (64, 1, (1, 1))]
    assert isinstance(model.decoder.features[-1], nn.Tanh)
    assert model.encoder.to_latent[1].in_features == 256 * 4 * 4


def test_widths_and_latent_are_configurable():
    model = ConvAutoencoder(channels=(16, 32), latent_dim=8, image_size=32)
    assert model.encode(torch.zeros(2, 1, 32, 32)).shape == (2, 8)
    assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 1, 32, 32)


def test_impossible_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"model.image_size=30 cannot be halved 3 times"):
        ConvAutoencoder(image_size=30)
    with pytest.raises(ValueError, match=r"model.latent_dim=0"):
        ConvAutoencoder(latent_dim=0)


def test_unet_shapes_range_and_probe_vector():
    net = UNetAutoencoder().eval()
    x = torch.rand(4, 1, 32, 32) * 2 - 1
    y = net(x)
    assert y.shape == x.shape and y.abs().max() <= 1
    assert net.encode(x).shape == (4, 256)  # the deepest features, averaged over positions


def test_unet_residual_output_starts_from_the_input():
    net = UNetAutoencoder(residual=True).eval()
    torch.nn.init.zeros_(net.out.weight)
    torch.nn.init.zeros_(net.out.bias)
    x = torch.rand(2, 1, 32, 32) * 1.6 - 0.8
    assert torch.allclose(net(x), torch.tanh(x))  # no correction: the (squashed) input itself


def test_unet_bad_image_size_is_refused():
    with pytest.raises(ValueError, match=r"model.image_size=30 cannot be halved 3 times"):
        UNetAutoencoder(image_size=30)


def test_attention_blocks_sit_at_the_chosen_stages_and_start_as_identity():
    net = AttentionAutoencoder(attention=[False, True, True]).eval()
    blocks = [m for m in net.modules() if isinstance(m, SelfAttention2d)]
    assert len(blocks) == 4  # encoder 8x8 and 4x4, decoder 4x4 and 8x8
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    assert net(x).shape == x.shape and net.encode(x).shape == (2, 128)
    features = torch.rand(2, 128, 8, 8)
    assert torch.equal(blocks[0](features), features)  # gamma starts at 0
    plain = AttentionAutoencoder(attention=[False, False, False])
    assert set(plain.state_dict()) == set(ConvAutoencoder().state_dict())  # no attention: the original study's model


def test_attention_switches_must_match_the_stages():
    with pytest.raises(ValueError, match=r"model.net.attention=\[True\] needs one true/false per encoder stage"):
        AttentionAutoencoder(attention=[True])
