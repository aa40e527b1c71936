"""What the training loop adds to the bare step, in one process, the variants interleaved so that the CPU's
drift between them cancels: samples per second of

- ``bare``: the bench's bare step (dae.training_speed.Stepper) on one fixed batch;
- ``bare+data``: the same step on fresh batches from the data module, noise drawn per batch, as training does;
- ``fit``: ``Trainer.fit`` with the loop alone (no callbacks, logger, checkpoints or validation), the module's
  step loss logged as training logs it (dae.denoiser.Denoiser.log_train_loss);
- ``fit-nolog``: the same without the step loss log.

Each variant runs ``--steps`` timed steps after 20 untimed ones, ``--rounds`` times in turn; the table gives each
variant's mean and its rounds.

    python experiments/speed/loop_costs.py [--steps 150] [--rounds 2] [overrides]
"""

from __future__ import annotations

import argparse
import statistics
import time

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import open_dict
from train_config import NO_CALLBACKS, train_config

from dae.denoiser import Denoiser
from dae.training import build, build_model
from dae.training_speed import Stepper, autocast_dtype, device_of

WARMUP = 20


class _StepRate(L.Callback):
    """Samples per second from step WARMUP to the end of the epoch."""

    def __init__(self, steps: int, batch_size: int) -> None:
        self.samples, self.rate, self.start = steps * batch_size, 0.0, 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if batch_idx == WARMUP:
            self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.rate = self.samples / (time.perf_counter() - self.start)


class _NoStepLog(Denoiser):
    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self.model_step(batch)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=2)
    args, overrides = parser.parse_known_args()
    cfg = train_config([*NO_CALLBACKS, "trainer.num_sanity_val_steps=0", *overrides], prefix="loop_costs_")
    device, dtype, batch_size = device_of(cfg), autocast_dtype(cfg), cfg.data.batch_size
    datamodule = instantiate(cfg.data, noise=instantiate(cfg.noise))
    datamodule.prepare_data()
    datamodule.setup("fit")

    def timed_steps(step, next_batch) -> float:
        for _ in range(WARMUP):
            step(*next_batch())
        start = time.perf_counter()
        for _ in range(args.steps):
            step(*next_batch())
        return args.steps * batch_size / (time.perf_counter() - start)

    def bare() -> float:
        clean = datamodule.images("train").clean[:batch_size].to(device)
        noisy = datamodule.noise(clean, torch.Generator(device=device).manual_seed(0))
        return timed_steps(Stepper(build_model(cfg), device, dtype), lambda: (noisy, clean))

    def bare_data() -> float:
        batches = iter(datamodule.train_dataloader())

        def next_batch():
            noisy, clean, _ = datamodule.on_after_batch_transfer(next(batches), 0)
            return noisy.to(device), clean.to(device)

        return timed_steps(Stepper(build_model(cfg), device, dtype), next_batch)

    def fit(log_step: bool = True) -> float:
        run = cfg.copy()
        with open_dict(run):
            run.trainer.limit_train_batches, run.trainer.limit_val_batches, run.trainer.max_epochs = args.steps + WARMUP, 0, 1
        data, model, trainer = build(run)
        if not log_step:
            model.__class__ = _NoStepLog
        rate = _StepRate(args.steps, batch_size)
        trainer.callbacks.append(rate)
        trainer.fit(model, datamodule=data)
        return rate.rate

    variants = {"bare": bare, "bare+data": bare_data, "fit": fit, "fit-nolog": lambda: fit(log_step=False)}
    rates: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, run in variants.items():
            rates[name].append(run())
    print(f"{'variant':<10}{'samples/s':>11}   rounds  ({cfg.trainer.precision}, batch {batch_size})")
    for name, values in rates.items():
        print(f"{name:<10}{statistics.mean(values):>11.0f}   " + " ".join(f"{v:.0f}" for v in values))


if __name__ == "__main__":
    main()
