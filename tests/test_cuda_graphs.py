"""dae.speedups.cuda_graphs: training steps replayed from CUDA graphs (``trainer=gpu``).

The graphs themselves need a CUDA GPU; those tests are skipped elsewhere. The step that runs where they
serve (``GraphedDenoiser._replayed_step``: manual optimization, the graph having done forward, loss and
backward) is checked on the CPU too: an eager stand-in keeps the graphs' contract, and the run must come
out exactly as the plain Denoiser trains under Lightning's automatic loop.
"""

from functools import partial
from pathlib import Path

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from omegaconf import open_dict
from torch import nn

import dae.speedups.cuda_graphs
from dae.denoiser import Denoiser
from dae.models import ConvAutoencoder
from dae.speedups.cuda_graphs import GraphedDenoiser, StepGraphs, fused_on_gpu
from dae.training import train
from tests.conftest import compose_train, fixture_overrides

GRAPHED = "model._target_=dae.speedups.cuda_graphs.GraphedDenoiser"


def module(cuda_graph: bool, optimizer=None) -> GraphedDenoiser:
    """The original study's autoencoder, seeded; SGD by default: it updates in proportion to the gradients, where
    Adam's sign-like first steps would magnify rounding."""
    optimizer = optimizer or partial(torch.optim.SGD, lr=0.05)
    torch.manual_seed(0)
    return GraphedDenoiser(ConvAutoencoder(), nn.L1Loss(), optimizer, channels_last=True, cuda_graph=cuda_graph).cuda().train()


def train_steps(model: GraphedDenoiser, batches, dtype) -> tuple[list[float], list[list[torch.Tensor]]]:
    """Losses and gradients of a few steps on ``batches``, with their own noise."""
    optimizer = model.optimizer(params=model.parameters())
    losses, grads = [], []
    for clean in batches:
        noisy = (clean + 0.3 * torch.randn(clean.shape, device="cuda", generator=torch.Generator("cuda").manual_seed(len(losses)))).clamp(
            0, 1
        )
        with torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
            _, loss = model.model_step((noisy, clean, None))
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


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [None, torch.bfloat16], ids=["float32", "bf16-autocast"])
def test_graphed_training_steps_match_eager_ones(dtype, exact_float32):
    generator = torch.Generator("cuda").manual_seed(0)
    batches = [torch.rand(n, 1, 32, 32, device="cuda", generator=generator) for n in (128, 128, 88, 128, 88)]
    eager, graphed = module(False), module(True)
    graphed.load_state_dict(eager.state_dict())
    (eager_losses, eager_grads), (graphed_losses, graphed_grads) = train_steps(eager, batches, dtype), train_steps(graphed, batches, dtype)
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


@pytest.mark.gpu
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
                    _, loss = model.model_step((noisy, clean, None))
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


@pytest.mark.gpu
def test_lightning_fit_replays_steps_and_counts_them(train_cfg):
    """Trainer.fit on the GPU with StepGraphs (manual optimization): Lightning counts every step, the
    optimizer and schedule update the weights from the replayed gradients, and the result matches the
    same run without graphs (automatic optimization)."""
    import lightning as L
    from omegaconf import open_dict

    from dae.training import build

    results = []
    out = train_cfg.paths.output_dir
    for graphs in (True, False):
        with open_dict(train_cfg):
            train_cfg.trainer.accelerator = "gpu"
            train_cfg.trainer.precision = "32-true"
            train_cfg.trainer.max_epochs = 2
            train_cfg.model._target_ = "dae.speedups.cuda_graphs.GraphedDenoiser"
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


@pytest.mark.gpu
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


class EagerSteps:
    """StepGraphs' contract, computed eagerly: :meth:`replay` leaves the batch's gradients in ``.grad``
    and returns the loss, or returns None (every third call here), as StepGraphs do for a shape they
    have no graph for, so that the step's eager fallback runs too."""

    def __init__(self, module: Denoiser) -> None:
        self.module, self.calls, self.replayed = module, 0, 0

    def replay(self, noisy: torch.Tensor, clean: torch.Tensor) -> torch.Tensor | None:
        self.calls += 1
        if self.calls % 3 == 0:
            return None
        self.replayed += 1
        self.module.zero_grad(set_to_none=True)
        _, loss = self.module.model_step((noisy, clean, None))
        loss.backward()
        return loss.detach()


def replayed_steps_on_cpu(patch: pytest.MonkeyPatch) -> None:
    """Make the GraphedDenoiser take its replayed-step path on the CPU, with :class:`EagerSteps` for the graphs."""
    patch.setattr(GraphedDenoiser, "step_graphs_apply", lambda self, device, scaler=False, accumulate=1: True)
    patch.setattr(dae.speedups.cuda_graphs, "StepGraphs", EagerSteps)
    patch.setattr(dae.speedups.cuda_graphs, "fused_on_gpu", lambda optimizer: optimizer)  # the same optimizer as the plain run


def run(cfg, replayed: bool, monkeypatch, name: str) -> tuple[dict, dict]:
    """Train ``cfg`` as the plain Denoiser, or as the GraphedDenoiser with its replayed steps."""
    with open_dict(cfg):
        cfg.paths.output_dir = str(Path(cfg.paths.output_dir).parent / name)
        cfg.model._target_ = f"{GraphedDenoiser.__module__}.GraphedDenoiser" if replayed else "dae.denoiser.Denoiser"
    with monkeypatch.context() as patch:
        if replayed:
            replayed_steps_on_cpu(patch)
        metrics = train(cfg)
    state = torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True)
    return metrics, state


@pytest.mark.parametrize(
    ("clip", "schedule"), [(None, "onecycle"), (0.05, "onecycle"), (None, "cosine")], ids=["one-cycle", "clipped", "cosine-per-epoch"]
)
def test_replayed_steps_train_as_the_plain_denoiser_does(fixture_data, tmp_path, monkeypatch, request, clip, schedule):
    train_cfg = compose_train(
        [*fixture_overrides(*fixture_data), f"scheduler={schedule}", "trainer.limit_train_batches=4"], tmp_path / "job"
    )
    request.addfinalizer(GlobalHydra.instance().clear)  # as the train_cfg fixture does
    with open_dict(train_cfg):
        train_cfg.trainer.max_epochs = 2
        train_cfg.trainer.gradient_clip_val = clip
        train_cfg.trainer.log_every_n_steps = 3
        train_cfg.callbacks.classifier_report = None
    seen, hooked = [], []
    original = GraphedDenoiser.prepare_steps
    monkeypatch.setattr(GraphedDenoiser, "prepare_steps", lambda self, *a, **k: seen.append(self) or original(self, *a, **k))
    monkeypatch.setattr(Denoiser, "on_before_optimizer_step", lambda self, optimizer: hooked.append(self.automatic_optimization))
    automatic, auto_state = run(train_cfg, False, monkeypatch, "automatic")
    manual, manual_state = run(train_cfg, True, monkeypatch, "replayed")
    (graphed,) = seen
    assert not graphed.automatic_optimization
    assert hooked == [True] * 8 + [False] * 8  # gradient-reading hooks run at every step either way
    assert graphed.step_graphs.replayed == 6 and graphed.step_graphs.calls == 8  # 2 epochs of 4 batches: 2 eager fallbacks
    assert manual_state["global_step"] == auto_state["global_step"] == 8
    steps = {"onecycle": 8, "cosine": 2}[schedule]  # one-cycle steps per batch, cosine per epoch
    assert manual_state["lr_schedulers"][0]["last_epoch"] == auto_state["lr_schedulers"][0]["last_epoch"] == steps
    for name, tensor in auto_state["state_dict"].items():
        assert torch.equal(tensor, manual_state["state_dict"][name]), name
    assert {k: automatic[k] for k in ("val/psnr", "test/psnr", "test/loss")} == {
        k: manual[k] for k in ("val/psnr", "test/psnr", "test/loss")
    }
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logged = [
        [
            (e.step, e.value)
            for e in EventAccumulator(str(Path(train_cfg.paths.output_dir).parent / name)).Reload().Scalars("train/loss_step")
        ]
        for name in ("automatic", "replayed")
    ]
    assert logged[0] == logged[1] and [step for step, _ in logged[0]] == [2, 5]  # every third step, at the same steps


class Stop(Exception):
    pass


def test_replayed_steps_resume_exactly(train_cfg, monkeypatch):
    with open_dict(train_cfg):
        train_cfg.trainer.max_epochs = 2
        train_cfg.callbacks.classifier_report = None
    _, whole = run(train_cfg, True, monkeypatch, "whole")

    def stop_at_epoch_1(self):  # a job killed after its first epoch's checkpoint
        if self.current_epoch == 1:
            raise Stop
        original(self)

    original = GraphedDenoiser.on_train_epoch_start
    with monkeypatch.context() as patch:
        patch.setattr(GraphedDenoiser, "on_train_epoch_start", stop_at_epoch_1)
        with pytest.raises(Stop):
            run(train_cfg, True, monkeypatch, "stopped")
    folder = Path(train_cfg.paths.output_dir)
    with monkeypatch.context() as patch:
        replayed_steps_on_cpu(patch)
        train(train_cfg, resume_from=folder / "checkpoints" / "last.ckpt")  # train_cfg is the GraphedDenoiser's since run()
    resumed = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)
    assert resumed["global_step"] == whole["global_step"] == 8 and resumed["epoch"] == whole["epoch"] == 1
    assert resumed["lr_schedulers"][0]["last_epoch"] == 8
    for name, tensor in whole["state_dict"].items():
        assert torch.equal(tensor, resumed["state_dict"][name]), name


def test_fused_adam_for_the_update_and_graphs_only_where_they_apply():
    assert fused_on_gpu(partial(torch.optim.Adam, lr=1e-3)).keywords == {"lr": 1e-3, "fused": True}
    assert fused_on_gpu(partial(torch.optim.Adam, fused=False)).keywords == {"fused": False}  # the config's choice stands
    rmsprop = partial(torch.optim.RMSprop, lr=1e-3)  # no fused kernel: unchanged
    assert fused_on_gpu(rmsprop) is rmsprop
    model = GraphedDenoiser(ConvAutoencoder(), nn.L1Loss(), partial(torch.optim.Adam, lr=1e-3))
    assert model.step_graphs_apply(torch.device("cuda")) and not model.step_graphs_apply(torch.device("cpu"))
    assert not model.step_graphs_apply(torch.device("cuda"), scaler=True) and not model.step_graphs_apply(
        torch.device("cuda"), accumulate=2
    )
    assert not GraphedDenoiser(ConvAutoencoder(), nn.L1Loss(), None, cuda_graph=False).step_graphs_apply(torch.device("cuda"))


def test_a_subclass_that_changes_the_loss_is_never_replayed():
    """A graph replays the loss it captured: a subclass with its own training step or loss trains eagerly."""

    class ExtraTerm(GraphedDenoiser):
        def training_step(self, batch, batch_idx):
            return super().training_step(batch, batch_idx) + self.net.decoder.features[0].weight.abs().mean()

    class OwnLoss(GraphedDenoiser):
        def model_step(self, batch):
            output, loss = super().model_step(batch)
            return output, 2 * loss

    for cls in (ExtraTerm, OwnLoss):
        model = cls(ConvAutoencoder(), nn.L1Loss(), partial(torch.optim.Adam, lr=1e-3))
        assert not model.step_graphs_apply(torch.device("cuda")), cls.__name__
    compiled = GraphedDenoiser(ConvAutoencoder(), nn.L1Loss(), None)
    compiled.net.compile()  # compile=true: torch.compile has its own graphs
    assert not compiled.step_graphs_apply(torch.device("cuda"))


def test_trainer_gpu_trains_the_model_as_a_graphed_denoiser_and_the_vae_as_itself(tmp_path):
    assert compose_train(["trainer=gpu"], tmp_path).model._target_ == "dae.speedups.cuda_graphs.GraphedDenoiser"
    assert compose_train(["trainer=gpu", "model=unet_ae"], tmp_path).model._target_ == "dae.speedups.cuda_graphs.GraphedDenoiser"
    assert compose_train(["trainer=gpu", "model=vae"], tmp_path).model._target_ == "dae.variational.VariationalDenoiser"
    assert compose_train([], tmp_path).model._target_ == "dae.denoiser.Denoiser"
    assert compose_train(["trainer=gpu"], tmp_path).trainer.accelerator == "gpu"
