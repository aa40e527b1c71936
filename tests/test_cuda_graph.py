"""The CUDA-graph training path (``model.cuda_graph``, dae/denoiser.py). It needs a CUDA GPU and is
skipped elsewhere; experiments/gpu/check.sh runs it on one."""

from functools import partial

import pytest
import torch
from torch import nn

from dae.cuda_graphs import StepGraphs
from dae.denoiser import Denoiser
from dae.models import ConvAutoencoder

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def module(cuda_graph: bool, optimizer=partial(torch.optim.SGD, lr=0.05)) -> Denoiser:
    """The design's autoencoder, seeded; SGD by default: it updates in proportion to the gradients, where
    Adam's sign-like first steps would magnify rounding."""
    torch.manual_seed(0)
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


@pytest.fixture
def exact_float32():
    """Full float32 convolutions (not TF32) and one cuDNN algorithm per shape, so that eager and graphed
    passes differ by rounding alone; TF32's 10-bit mantissa lets the first layer's gradients, sums of many
    terms that largely cancel, differ by 1% of their largest element."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.deterministic
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.deterministic = True
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.deterministic = saved


def close(a: torch.Tensor, b: torch.Tensor, tolerance: float) -> bool:
    """``b`` within ``tolerance`` of ``a`` relative to ``a``'s norm: the whole tensor, not each element."""
    return float((a.float() - b.float()).norm()) <= tolerance * max(float(a.float().norm()), 1e-12)


@pytest.mark.parametrize("dtype", [None, torch.bfloat16], ids=["float32", "bf16-autocast"])
def test_graphed_training_steps_match_eager_ones(dtype, exact_float32):
    generator = torch.Generator("cuda").manual_seed(0)
    batches = [torch.rand(n, 1, 32, 32, device="cuda", generator=generator) for n in (128, 128, 88, 128, 88)]
    eager, graphed = module(False), module(True)
    graphed.load_state_dict(eager.state_dict())
    (eager_losses, eager_grads), (graphed_losses, graphed_grads) = train(eager, batches, dtype), train(graphed, batches, dtype)
    assert len(graphed._graphs) == 2 and not eager._graphs  # one capture per batch shape: 128 and the short 88
    tolerance = 1e-3 if dtype is None else 3e-2
    assert graphed_losses == pytest.approx(eager_losses, rel=tolerance)
    for step, (a_step, b_step) in enumerate(zip(eager_grads, graphed_grads)):
        for (name, _), a, b in zip(eager.named_parameters(), a_step, b_step):
            assert close(a, b, tolerance), f"step {step}: gradient of {name}"
    for (name, a), b in zip(eager.state_dict().items(), graphed.state_dict().values()):  # weights and BatchNorm statistics
        if a.is_floating_point():
            assert close(a, b, tolerance), name
    assert graphed.state_dict()["net.encoder.features.2.num_batches_tracked"] == len(batches)  # the capture's warm-up passes left no trace
    eager.eval(), graphed.eval()
    with torch.no_grad():  # evaluation runs the eager network, whatever was captured for training
        x = batches[0][:16]
        assert torch.allclose(eager(x), graphed(x), atol=tolerance)


@pytest.mark.parametrize("dtype", [None, torch.bfloat16], ids=["float32", "bf16-autocast"])
def test_step_graphs_match_eager_steps_under_a_schedule(dtype, exact_float32):
    """StepGraphs replays forward, loss and backward and leaves the gradients in .grad for the optimizer;
    with the one-cycle schedule changing the learning rate and beta1 at every step, the weights after
    six steps over two batch shapes match eager steps."""
    generator = torch.Generator("cuda").manual_seed(0)
    batches = [torch.rand(n, 1, 32, 32, device="cuda", generator=generator) for n in (128, 128, 88, 128, 88, 128)]
    runs = []
    for graphs in (False, True):
        model = module(True, partial(torch.optim.Adam, lr=1e-3))
        optimizer = model.optimizer(params=model.parameters())
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=len(batches) + 1, pct_start=0.5)
        steps = StepGraphs(model)
        losses = []
        for i, clean in enumerate(batches):
            noisy = (clean + 0.3 * torch.randn(clean.shape, device="cuda", generator=torch.Generator("cuda").manual_seed(i))).clamp(0, 1)
            with torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
                loss = steps.replay(noisy, clean) if graphs else None
                if loss is None:
                    optimizer.zero_grad(set_to_none=True)
                    loss = model.loss_of(noisy, clean)
                    loss.backward()
            losses.append(float(loss))
            optimizer.step()
            schedule.step()
        runs.append((losses, model.state_dict(), len(steps.graphs)))
    (eager_losses, eager_state, _), (graphed_losses, graphed_state, graphed_shapes) = runs
    assert graphed_shapes == 2  # one capture per batch shape
    tolerance = 1e-4 if dtype is None else 2e-3
    assert graphed_losses == pytest.approx(eager_losses, rel=tolerance)
    for name, a in eager_state.items():
        b = graphed_state[name]
        assert close(a, b, tolerance) if a.is_floating_point() else torch.equal(a, b), name  # weights, BatchNorm statistics and counts


def test_lightning_fit_replays_steps_and_counts_them(train_cfg):
    """Trainer.fit on the GPU with StepGraphs (manual optimization): Lightning counts every step, the
    optimizer and schedule update the weights from the replayed gradients, and the result matches the
    same run without graphs (automatic optimization)."""
    import lightning as L
    from omegaconf import open_dict

    from dae.train import build

    results = []
    out = train_cfg.paths.output_dir
    for graphs in (True, False):
        with open_dict(train_cfg):
            train_cfg.trainer.accelerator = "gpu"
            train_cfg.trainer.precision = "32-true"
            train_cfg.trainer.max_epochs = 2
            train_cfg.model.cuda_graph = graphs
            train_cfg.callbacks.classifier_report = None
            train_cfg.paths.output_dir = f"{out}_{graphs}"
        L.seed_everything(train_cfg.seed)  # the same initial weights for both runs, as dae.train seeds them
        datamodule, model, trainer = build(train_cfg)
        trainer.fit(model, datamodule=datamodule)
        results.append((trainer.global_step, trainer.callback_metrics["val/psnr"].item(), model))
    (steps, psnr, model), (eager_steps, eager_psnr, eager_model) = results
    assert model.step_graphs is not None and len(model.step_graphs.graphs) == 1 and eager_model.step_graphs is None
    assert not model.automatic_optimization and eager_model.automatic_optimization  # replayed steps are driven by hand
    assert model.trainer.optimizers[0].defaults["fused"] is True  # the update left eager is Adam's fused kernel
    assert steps == eager_steps == 8  # 2 epochs of limit_train_batches=4
    assert psnr == pytest.approx(eager_psnr, abs=0.05)


def test_capture_survives_a_thread_pinning_memory():
    """A DataLoader with ``pin_memory=True`` (the bench's tutorial mode) keeps a thread allocating pinned
    memory while a step may be captured. The capture must neither fail nor break that thread: StepGraphs
    captures in thread-local mode, where other threads' CUDA calls go on as usual."""
    import threading

    model = module(True, partial(torch.optim.Adam, lr=1e-3))
    stop, errors = threading.Event(), []

    def pin() -> None:  # what a pin-memory thread and its batches' copies do: pinned allocations, event queries
        try:
            with torch.cuda.stream(torch.cuda.Stream()):
                while not stop.is_set():
                    torch.empty(1 << 16).pin_memory().to("cuda", non_blocking=True)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    pinner = threading.Thread(target=pin)
    pinner.start()
    try:
        steps = StepGraphs(model)
        clean = torch.rand(128, 1, 32, 32, device="cuda")
        losses = [steps.replay(clean, clean) for _ in range(3)]
        torch.cuda.synchronize()
    finally:
        stop.set()
        pinner.join()
    assert not errors, errors
    assert len(steps.graphs) == 1 and steps.enabled and all(loss is not None for loss in losses)
