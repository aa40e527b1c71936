"""model=unet_ae: the design's encoder and decoder with skip connections."""

import json

import pytest
import torch

from dae.models import UNetAutoencoder
from tests.conftest import fixture_overrides, run_module


def test_shapes_range_and_probe_vector():
    net = UNetAutoencoder().eval()
    x = torch.rand(4, 1, 32, 32) * 2 - 1
    y = net(x)
    assert y.shape == x.shape and y.abs().max() <= 1
    assert net.encode(x).shape == (4, 256)  # the deepest features, averaged over positions


def test_residual_output_starts_from_the_input():
    net = UNetAutoencoder(residual=True).eval()
    torch.nn.init.zeros_(net.out.weight)
    torch.nn.init.zeros_(net.out.bias)
    x = torch.rand(2, 1, 32, 32) * 1.6 - 0.8
    assert torch.allclose(net(x), torch.tanh(x))  # no correction: the (squashed) input itself


def test_bad_image_size_is_refused():
    with pytest.raises(ValueError, match=r"model.image_size=30 cannot be halved 3 times"):
        UNetAutoencoder(image_size=30)


@pytest.mark.slow
def test_unet_trains_and_goes_through_the_probe(fixture_data, tmp_path):
    job = tmp_path / "job"
    done = run_module("dae.train", "model=unet_ae", "trainer.max_epochs=1", "trainer.limit_train_batches=4", f"hydra.run.dir={job}", *fixture_overrides(*fixture_data))
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((job / "classifier_report.json").read_text())["denoised"]["accuracy"] >= 0
    done = run_module("dae.probe", f"run={job}", "probe.n_train=200", "probe.n_embed=50", "probe.control=false", f"paths.data_dir={fixture_data[0]}", f"hydra.run.dir={tmp_path / 'log'}")
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((job / "probe" / "report.json").read_text())
    assert report["latent_dim"] == 256 and 0 <= report["accuracy"] <= 1
