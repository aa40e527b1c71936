import pytest
import torch
from torch import nn

from dae.models import ConvAutoencoder


def test_shapes_32_in_latent_and_32_out():
    model = ConvAutoencoder(latent_dim=128)
    x = torch.rand(5, 1, 32, 32) * 2 - 1
    z = model.encode(x)
    y = model(x)
    assert z.shape == (5, 128)
    assert y.shape == (5, 1, 32, 32)
    assert y.min() >= -1 and y.max() <= 1  # Tanh output


def test_follows_the_design_layer_by_layer():
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


def test_channels_last_gives_the_same_numbers():
    from dae.denoiser import Denoiser

    torch.manual_seed(0)
    plain = Denoiser(ConvAutoencoder(), nn.L1Loss(), optimizer=None).eval()
    fast = Denoiser(ConvAutoencoder(), nn.L1Loss(), optimizer=None, channels_last=True).eval()
    fast.load_state_dict(plain.state_dict())
    x = torch.rand(8, 1, 32, 32)
    assert fast.net.encoder.features[3].weight.is_contiguous(memory_format=torch.channels_last)
    assert not plain.net.encoder.features[3].weight.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(plain(x), fast(x), atol=1e-5) and torch.allclose(plain.encode(x), fast.encode(x), atol=1e-4)


def test_allocator_settings_are_accepted_on_linux():
    import sys

    from dae.allocator import keep_freed_memory

    assert keep_freed_memory() is sys.platform.startswith("linux")


def test_cuda_graph_steps_choose_adams_fused_kernel_and_stay_off_the_cpu():
    from functools import partial

    from dae.denoiser import Denoiser, fused_on_gpu

    assert fused_on_gpu(partial(torch.optim.Adam, lr=1e-3)).keywords == {"lr": 1e-3, "fused": True}
    assert fused_on_gpu(partial(torch.optim.Adam, fused=False)).keywords == {"fused": False}  # the config's choice stands
    rmsprop = partial(torch.optim.RMSprop, lr=1e-3)  # no fused kernel: unchanged
    assert fused_on_gpu(rmsprop) is rmsprop
    model = Denoiser(ConvAutoencoder(), nn.L1Loss(), partial(torch.optim.Adam, lr=1e-3), cuda_graph=True)
    assert model.step_graphs_apply(torch.device("cuda")) and not model.step_graphs_apply(torch.device("cpu"))
    assert not model.step_graphs_apply(torch.device("cuda"), scaler=True) and not model.step_graphs_apply(torch.device("cuda"), accumulate=2)
