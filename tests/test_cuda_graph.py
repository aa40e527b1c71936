"""The CUDA-graph training path (``model.cuda_graph``, dae/denoiser.py). It needs a CUDA GPU and is
skipped elsewhere; experiments/gpu/check.sh runs it on one."""

from functools import partial

import pytest
import torch
from torch import nn

from dae.denoiser import Denoiser
from dae.models import ConvAutoencoder

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def module(cuda_graph: bool) -> Denoiser:
    torch.manual_seed(0)
    optimizer = partial(torch.optim.SGD, lr=0.05)  # updates in proportion to the gradients: Adam's sign-like first steps would magnify rounding
    return Denoiser(ConvAutoencoder(), nn.L1Loss(), optimizer, channels_last=True, cuda_graph=cuda_graph).cuda().train()


def train(model: Denoiser, batches, dtype) -> tuple[list[float], list[list[torch.Tensor]]]:
    """Losses and gradients of a few steps on ``batches``, with their own noise."""
    optimizer = model.optimizer(params=model.parameters())
    losses, grads = [], []
    for clean in batches:
        noisy = (clean + 0.3 * torch.randn(clean.shape, device="cuda", generator=torch.Generator("cuda").manual_seed(len(losses)))).clamp(0, 1)
        with torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
            _, loss = model._step((noisy, clean, None))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grads.append([p.grad.clone() for p in model.parameters()])
        optimizer.step()
        losses.append(float(loss))
    return losses, grads


@pytest.mark.parametrize("dtype", [None, torch.bfloat16], ids=["float32", "bf16-autocast"])
def test_graphed_training_steps_match_eager_ones(dtype):
    generator = torch.Generator("cuda").manual_seed(0)
    batches = [torch.rand(n, 1, 32, 32, device="cuda", generator=generator) for n in (128, 128, 88, 128, 88)]
    eager, graphed = module(False), module(True)
    graphed.load_state_dict(eager.state_dict())
    (eager_losses, eager_grads), (graphed_losses, graphed_grads) = train(eager, batches, dtype), train(graphed, batches, dtype)
    assert len(graphed._graphs) == 2 and not eager._graphs  # one capture per batch shape: 128 and the short 88
    tolerance = 2e-3 if dtype is None else 3e-2
    assert graphed_losses == pytest.approx(eager_losses, rel=tolerance)
    for step, (a_step, b_step) in enumerate(zip(eager_grads, graphed_grads)):
        for (name, _), a, b in zip(eager.named_parameters(), a_step, b_step):
            assert torch.allclose(a, b, rtol=tolerance, atol=tolerance * float(a.abs().max())), f"step {step}: gradient of {name}"
    for (name, a), b in zip(eager.state_dict().items(), graphed.state_dict().values()):  # weights and BatchNorm statistics
        if a.is_floating_point():
            assert torch.allclose(a, b, rtol=tolerance, atol=tolerance), name
    assert graphed.state_dict()["net.encoder.features.2.num_batches_tracked"] == len(batches)  # the capture's warm-up passes left no trace
    eager.eval(), graphed.eval()
    with torch.no_grad():  # evaluation runs the eager network, whatever was captured for training
        x = batches[0][:16]
        assert torch.allclose(eager(x), graphed(x), atol=tolerance)
