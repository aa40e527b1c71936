"""A CPU stand-in for the question "what does the project path cost the host per step, over the bare
step?" on a GPU: the bench with a network that does almost nothing (:class:`TinyNet`), so that what is
left is the host's work around it (Lightning's loop, data, noise, schedule, callbacks, validation).
From the repository root (``PYTHONPATH`` lets Hydra find this module's classes):

    B="trainer.accelerator=cpu trainer.precision=32-true model.net._target_=host_proxy.TinyNet model.channels_last=false data.batch_size=16 bench.modes=[bare,project] bench.steps=500"
    G=model._target_=dae.speedups.cuda_graphs.GraphedDenoiser   # trainer=gpu's module: on a CPU, eager steps, automatic optimization
    NONE=$(python experiments/speed/train_config.py --no-callbacks)
    PYTHONPATH=experiments/speed python -m dae.bench $B $G                                     # as configured
    PYTHONPATH=experiments/speed python -m dae.bench $B model._target_=host_proxy.ManualDenoiser  # manual optimization
    PYTHONPATH=experiments/speed python -m dae.bench $B $G $NONE                               # no callbacks, no logger
    PYTHONPATH=experiments/speed python -m dae.bench $B $G $NONE trainer.limit_val_batches=0   # and no validation

About 40 s each on a 2-core CPU; the results are in experiments/speed/README.md. The data path alone,
one epoch of batches of 16, sliced, then sliced and made noisy (``python experiments/speed/host_proxy.py
data [batch size]``), and the training loops per step, without callbacks or validation, ``rounds``
alternating runs of each (a minute or two for 3):

    python experiments/speed/host_proxy.py loops [rounds]
"""

from __future__ import annotations

import sys
import time

import torch
from torch import nn

from dae.speedups.cuda_graphs import GraphedDenoiser

# The training modules that loop_cost compares, by config target.
LOOPS = {
    "automatic, plain Denoiser (dae.denoiser.Denoiser)": "dae.denoiser.Denoiser",
    "automatic, GraphedDenoiser's logging (eager on a CPU)": "dae.speedups.cuda_graphs.GraphedDenoiser",
    "manual, GraphedDenoiser's replayed-step path (host_proxy.ManualDenoiser)": "host_proxy.ManualDenoiser",
}


class TinyNet(nn.Module):
    """One 1x1 convolution and Tanh: an autoencoder's interface (``forward``, ``encode``) at almost no cost."""

    def __init__(self, **unused) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv(x))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).flatten(1)[:, :8]


class NoGraphs:
    """Where :class:`~dae.speedups.cuda_graphs.StepGraphs` would stand: it has no graph for any batch,
    so each step takes the replayed-step path's eager fallback (zero the gradients, forward pass and
    loss, backward pass), then clips, logs, updates and steps the schedule as a replayed step does."""

    def replay(self, noisy: torch.Tensor, clean: torch.Tensor) -> None:
        return None


class ManualDenoiser(GraphedDenoiser):
    """The GraphedDenoiser's GPU training step on any device, under Lightning's manual optimization,
    without the graph (:class:`NoGraphs`): what manual optimization costs or saves the host against the
    automatic loop (the closure, the automatic backward path and the optimizer-step hook chain)."""

    def prepare_steps(self, *args, **kwargs):
        optimizer = super().prepare_steps(*args, **kwargs)  # on the CPU: no graphs, automatic optimization
        self.step_graphs = NoGraphs()
        self.automatic_optimization = False
        return optimizer


def data_cost(batch_size: int = 16) -> None:
    """Microseconds per training batch of the data module: the slice alone, then the slice and its noise."""
    from hydra.utils import instantiate
    from train_config import train_config

    cfg = train_config([f"data.batch_size={batch_size}"], prefix="host_proxy_")
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
    """Milliseconds per step of each training module in :data:`LOOPS` around :class:`TinyNet`: the second
    of two epochs of batches of 16, no validation, no callbacks or logger; ``rounds`` alternating runs of each."""
    import lightning as L
    from train_config import NO_CALLBACKS, train_config

    from dae.training import build

    class EpochClock(L.Callback):
        def on_train_epoch_start(self, trainer, pl_module) -> None:
            self.start = time.perf_counter()

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            self.ms_per_step = (time.perf_counter() - self.start) / trainer.num_training_batches * 1e3

    def run(target: str) -> float:
        overrides = [
            "trainer.max_epochs=2",
            "trainer.accelerator=cpu",
            "trainer.precision=32-true",
            "model.net._target_=host_proxy.TinyNet",
            "model.channels_last=false",
            "data.batch_size=16",
            "trainer.limit_val_batches=0",
            f"model._target_={target}",
            *NO_CALLBACKS,
        ]
        datamodule, model, trainer = build(train_config(overrides, prefix="host_proxy_"))
        clock = EpochClock()
        trainer.callbacks.append(clock)
        trainer.fit(model, datamodule=datamodule)
        return clock.ms_per_step

    results: dict[str, list[float]] = {name: [] for name in LOOPS}
    for _ in range(rounds):
        for name, target in LOOPS.items():
            results[name].append(run(target))
    for name, values in results.items():
        print(f"{name}: {' '.join(f'{v:.3f}' for v in values)} ms per step")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    command, numbers = (argv[0], argv[1:]) if argv else ("data", [])
    if command == "loops":
        loop_cost(*(int(a) for a in numbers))
    elif command == "data":
        data_cost(*(int(a) for a in numbers))
    else:
        print(__doc__)


if __name__ == "__main__":
    main()
