"""The training step that runs where CUDA graphs serve (``Denoiser._replayed_step``: manual optimization,
the graph having done forward, loss and backward), checked on the CPU: an eager stand-in keeps the
graphs' contract, and the run must come out exactly as Lightning's automatic loop trains it. The
graphs themselves are tested on a GPU (tests/test_cuda_graph.py)."""

from pathlib import Path

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from omegaconf import open_dict

import dae.denoiser
from dae.denoiser import Denoiser
from dae.train import train
from tests.conftest import compose_train, fixture_overrides


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
        loss = self.module.loss_of(noisy, clean)
        loss.backward()
        return loss.detach()


def replayed_steps_on_cpu(patch: pytest.MonkeyPatch) -> None:
    """Make the Denoiser take its replayed-step path on the CPU, with :class:`EagerSteps` for the graphs."""
    patch.setattr(Denoiser, "step_graphs_apply", lambda self, device, scaler=False, accumulate=1: True)
    patch.setattr(dae.denoiser, "StepGraphs", EagerSteps)
    patch.setattr(dae.denoiser, "fused_on_gpu", lambda optimizer: optimizer)  # the same optimizer as the automatic run


def run(cfg, replayed: bool, monkeypatch, name: str) -> tuple[dict, dict]:
    with open_dict(cfg):
        cfg.paths.output_dir = str(Path(cfg.paths.output_dir).parent / name)
    with monkeypatch.context() as patch:
        if replayed:
            replayed_steps_on_cpu(patch)
        metrics = train(cfg)
    state = torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True)
    return metrics, state


@pytest.mark.parametrize(("clip", "schedule"), [(None, "onecycle"), (0.05, "onecycle"), (None, "cosine")], ids=["one-cycle", "clipped", "cosine-per-epoch"])
def test_replayed_steps_train_as_the_automatic_loop_does(fixture_data, tmp_path, monkeypatch, request, clip, schedule):
    train_cfg = compose_train([*fixture_overrides(*fixture_data), f"scheduler={schedule}", "trainer.limit_train_batches=4"], tmp_path / "job")
    request.addfinalizer(GlobalHydra.instance().clear)  # as the train_cfg fixture does
    with open_dict(train_cfg):
        train_cfg.trainer.max_epochs = 2
        train_cfg.trainer.gradient_clip_val = clip
        train_cfg.trainer.log_every_n_steps = 3
        train_cfg.callbacks.classifier_report = None
    seen, hooked = [], []
    original = Denoiser.prepare_steps
    monkeypatch.setattr(Denoiser, "prepare_steps", lambda self, *a, **k: seen.append(self) or original(self, *a, **k))
    monkeypatch.setattr(Denoiser, "on_before_optimizer_step", lambda self, optimizer: hooked.append(self.automatic_optimization))
    automatic, auto_state = run(train_cfg, False, monkeypatch, "automatic")
    manual, manual_state = run(train_cfg, True, monkeypatch, "replayed")
    assert seen[0].automatic_optimization and not seen[1].automatic_optimization
    assert hooked == [True] * 8 + [False] * 8  # gradient-reading hooks run at every step either way
    assert seen[1].step_graphs.replayed == 6 and seen[1].step_graphs.calls == 8  # 2 epochs of 4 batches: 2 eager fallbacks
    assert manual_state["global_step"] == auto_state["global_step"] == 8
    steps = {"onecycle": 8, "cosine": 2}[schedule]  # one-cycle steps per batch, cosine per epoch
    assert manual_state["lr_schedulers"][0]["last_epoch"] == auto_state["lr_schedulers"][0]["last_epoch"] == steps
    for name, tensor in auto_state["state_dict"].items():
        assert torch.equal(tensor, manual_state["state_dict"][name]), name
    assert {k: automatic[k] for k in ("val/psnr", "test/psnr", "test/loss")} == {k: manual[k] for k in ("val/psnr", "test/psnr", "test/loss")}
    EventAccumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator").EventAccumulator  # a GPU machine may lack it
    logged = [[(e.step, e.value) for e in EventAccumulator(str(Path(train_cfg.paths.output_dir).parent / name)).Reload().Scalars("train/loss_step")] for name in ("automatic", "replayed")]
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

    original = Denoiser.on_train_epoch_start
    with monkeypatch.context() as patch:
        patch.setattr(Denoiser, "on_train_epoch_start", stop_at_epoch_1)
        with pytest.raises(Stop):
            run(train_cfg, True, monkeypatch, "stopped")
    folder = Path(train_cfg.paths.output_dir)
    with monkeypatch.context() as patch:
        replayed_steps_on_cpu(patch)
        train(train_cfg, resume_from=folder / "checkpoints" / "last.ckpt")
    resumed = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)
    assert resumed["global_step"] == whole["global_step"] == 8 and resumed["epoch"] == whole["epoch"] == 1
    assert resumed["lr_schedulers"][0]["last_epoch"] == 8
    for name, tensor in whole["state_dict"].items():
        assert torch.equal(tensor, resumed["state_dict"][name]), name
