"""The models beyond the design's: unet_ae (skip connections) and attention_ae (self-attention)."""

import json

import pytest
import torch

from dae.models import AttentionAutoencoder, ConvAutoencoder, UNetAutoencoder, VariationalAutoencoder
from dae.models.attention_ae import SelfAttention2d
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


def test_attention_blocks_sit_at_the_chosen_stages_and_start_as_identity():
    net = AttentionAutoencoder(attention=[False, True, True]).eval()
    blocks = [m for m in net.modules() if isinstance(m, SelfAttention2d)]
    assert len(blocks) == 4  # encoder 8x8 and 4x4, decoder 4x4 and 8x8
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    assert net(x).shape == x.shape and net.encode(x).shape == (2, 128)
    features = torch.rand(2, 128, 8, 8)
    assert torch.equal(blocks[0](features), features)  # gamma starts at 0
    plain = AttentionAutoencoder(attention=[False, False, False])
    assert set(plain.state_dict()) == set(ConvAutoencoder().state_dict())  # no attention: the design's model


def test_attention_switches_must_match_the_stages():
    with pytest.raises(ValueError, match=r"model.net.attention=\[True\] needs one true/false per encoder stage"):
        AttentionAutoencoder(attention=[True])


def test_vae_samples_while_training_and_reads_the_mean_otherwise():
    net = VariationalAutoencoder(beta=0.5, warmup_steps=100)
    x = torch.rand(4, 1, 32, 32) * 2 - 1
    net.train()
    assert not torch.equal(net(x), net(x))  # z drawn around the mean
    net.eval()
    assert torch.equal(net(x), net(x)) and torch.equal(net.encode(x), net.moments(x)[0])
    terms = net.regularisation(step=50)
    assert terms["kl"] >= 0 and torch.allclose(terms["weighted"], 0.25 * terms["kl"])  # half-way through the warm-up
    assert torch.allclose(net.regularisation(step=1000)["weighted"], 0.5 * terms["kl"])
    assert net.sample(6, torch.Generator().manual_seed(0)).shape == (6, 1, 32, 32)


def test_vae_kl_is_zero_at_the_prior():
    net = VariationalAutoencoder()
    torch.nn.init.zeros_(net.encoder.to_latent[-1].weight)
    torch.nn.init.zeros_(net.encoder.to_latent[-1].bias)  # mean 0, log-variance 0: N(0, I) itself
    net(torch.rand(2, 1, 32, 32))
    assert net.regularisation(step=0)["kl"].abs() < 1e-7


@pytest.mark.slow
@pytest.mark.parametrize("model, probe_dim", [("unet_ae", 256), ("attention_ae", 128), ("vae", 128)])
def test_model_trains_and_goes_through_the_probe(model, probe_dim, fixture_data, tmp_path):
    job = tmp_path / "job"
    done = run_module("dae.train", f"model={model}", "trainer.max_epochs=1", "trainer.limit_train_batches=4", f"hydra.run.dir={job}", *fixture_overrides(*fixture_data))
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((job / "classifier_report.json").read_text())["denoised"]["accuracy"] >= 0
    done = run_module("dae.probe", f"run={job}", "probe.n_train=200", "probe.n_embed=50", "probe.control=false", f"paths.data_dir={fixture_data[0]}", f"hydra.run.dir={tmp_path / 'log'}")
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((job / "probe" / "report.json").read_text())
    assert report["latent_dim"] == probe_dim and 0 <= report["accuracy"] <= 1
    assert (job / "prior_samples.png").is_file() == (model == "vae")
    if model == "vae":  # the two terms of its loss, logged apart
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        events = EventAccumulator(str(job))
        events.Reload()
        assert {"train/kl", "train/reconstruction"} <= set(events.Tags()["scalars"])
