"""A CPU stand-in for the GPU's question "what does the project path cost the host per step, over the
bare step?": the bench with a network that does almost nothing, so that what is left is the host's work
around it (Lightning's loop, data, noise, schedule, callbacks, validation). From the repository root:

    B="trainer.accelerator=cpu trainer.precision=32-true model.net._target_=host_proxy.TinyNet model.channels_last=false data.batch_size=16 bench.modes=[bare,project] bench.steps=500"
    PYTHONPATH=experiments/gpu python -m dae.bench $B                                        # as configured
    PYTHONPATH=experiments/gpu python -m dae.bench $B model._target_=host_proxy.ManualDenoiser # manual optimization
    NONE=$(cd experiments/gpu && python -c "from train_config import NO_CALLBACKS; print(*NO_CALLBACKS)")
    PYTHONPATH=experiments/gpu python -m dae.bench $B $NONE                                  # no callbacks, no logger
    PYTHONPATH=experiments/gpu python -m dae.bench $B $NONE trainer.limit_val_batches=0      # and no validation

About 40 s each on a 2-core CPU; the results (three interleaved rounds) are in experiments/gpu/README.md.
And the data path alone, one epoch of batches of 16, sliced, then sliced and made noisy:

    python experiments/gpu/host_proxy.py

And Lightning's automatic loop against manual optimization, per step, without callbacks or validation
(three alternating runs of each, about a minute):

    PYTHONPATH=experiments/gpu python experiments/gpu/host_proxy.py loops
"""

from __future__ import annotations

import sys
import time

import torch
from torch import nn

from dae.denoiser import Denoiser


class TinyNet(nn.Module):
    """One 1x1 convolution and Tanh: an autoencoder's interface (``forward``, ``encode``) at almost no cost."""

    def __init__(self, **unused) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv(x))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).flatten(1)[:, :8]


class ManualDenoiser(Denoiser):
    """The Denoiser under Lightning's manual optimization: the same step, without the closure,
    the automatic backward path and the optimizer-step hook chain."""

    def prepare_steps(self, *args, **kwargs):
        optimizer = super().prepare_steps(*args, **kwargs)
        self.automatic_optimization = False  # after the Denoiser's own choice (automatic on the CPU)
        return optimizer

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        optimizer = self.optimizers()
        _, loss = self._step(batch)
        optimizer.zero_grad()
        self.manual_backward(loss)
        optimizer.step()
        schedule = self.lr_schedulers()
        if schedule is not None:
            schedule.step()
        self._log_train_loss(loss, len(batch[0]), batch_idx)
        return loss


def data_cost(batch_size: int = 16) -> None:
    """Microseconds per training batch of the data module: the slice alone, then the slice and its noise."""
    from hydra.utils import instantiate
    from train_config import train_config

    cfg = train_config([f"data.batch_size={batch_size}"])
    datamodule = instantiate(cfg.data, noise=instantiate(cfg.noise))
    datamodule.prepare_data()
    datamodule.setup("fit")
    for name, finish in (("slice", lambda batch: batch), ("slice and noise", lambda batch: datamodule.on_after_batch_transfer(batch, 0))):
        start, n = time.perf_counter(), 0
        for batch in datamodule.train_dataloader():
            finish(batch)
            n += 1
        print(f"{name}: {n} batches of {batch_size}, {(time.perf_counter() - start) / n * 1e6:.0f} us per batch")


def loop_cost(rounds: int = 3) -> None:
    """Milliseconds per step of Lightning's automatic loop and of manual optimization (:class:`ManualDenoiser`)
    around :class:`TinyNet`: the second of two epochs of batches of 16, no validation, no callbacks or
    logger; ``rounds`` alternating runs of each."""
    import lightning as L
    from train_config import NO_CALLBACKS, train_config

    from dae.train import build

    class EpochClock(L.Callback):
        def on_train_epoch_start(self, trainer, pl_module) -> None:
            self.start = time.perf_counter()

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            self.ms_per_step = (time.perf_counter() - self.start) / trainer.num_training_batches * 1e3

    def run(target: str) -> float:
        overrides = [
            "trainer.max_epochs=2", "trainer.accelerator=cpu", "trainer.precision=32-true", "model.net._target_=host_proxy.TinyNet",
            "model.channels_last=false", "data.batch_size=16", "trainer.limit_val_batches=0", f"model._target_={target}", *NO_CALLBACKS,
        ]
        datamodule, model, trainer = build(train_config(overrides, prefix="host_proxy_"))
        clock = EpochClock()
        trainer.callbacks.append(clock)
        trainer.fit(model, datamodule=datamodule)
        return clock.ms_per_step

    results = {"automatic (dae.denoiser.Denoiser)": [], "manual (host_proxy.ManualDenoiser)": []}
    for _ in range(rounds):
        for name, target in zip(results, ("dae.denoiser.Denoiser", "host_proxy.ManualDenoiser")):
            results[name].append(run(target))
    for name, values in results.items():
        print(f"{name}: {' '.join(f'{v:.3f}' for v in values)} ms per step")


if __name__ == "__main__":
    if sys.argv[1:2] == ["loops"]:
        loop_cost(*(int(a) for a in sys.argv[2:]))
    else:
        data_cost(*(int(a) for a in sys.argv[1:]))
