"""What the project path pays once per epoch, apart from its steps: a checkpoint write, the
reconstruction grid, and a validation pass at two batch sizes. From the repository root:

    python experiments/speed/epoch_costs.py trainer.accelerator=cpu   # or trainer=gpu; more overrides as for dae.train

Trains a few steps first (so the optimizer has its state and a checkpoint its full size), then times
each piece ``REPEATS`` times and prints the median in milliseconds. About a minute on a 2-core CPU.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch
from train_config import train_config

from dae.callbacks import ReconstructionGrid
from dae.training import build

REPEATS = 5


def median_ms(work, device: torch.device) -> float:
    times = []
    for _ in range(REPEATS):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        work()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main(overrides: list[str] | None = None) -> None:
    overrides = sys.argv[1:] if overrides is None else overrides
    cfg = train_config(
        ["trainer.max_epochs=1", "trainer.limit_train_batches=5", "trainer.limit_val_batches=1", *overrides], prefix="epoch_costs_"
    )
    out = Path(cfg.paths.output_dir)
    datamodule, model, trainer = build(cfg)
    trainer.fit(model, datamodule=datamodule)
    device = trainer.strategy.root_device
    model.to(device)  # fit's teardown moved it to the CPU: back where training keeps it
    rows = {}
    checkpoint = out / "timed.ckpt"
    rows["checkpoint write (trainer.save_checkpoint)"] = median_ms(lambda: trainer.save_checkpoint(checkpoint), device)
    rows["  its size, MB"] = checkpoint.stat().st_size / 1e6
    grid = next(c for c in trainer.callbacks if isinstance(c, ReconstructionGrid))
    trainer.state.fn = "fit"  # the grid logs during fitting only
    rows["reconstruction grid to TensorBoard"] = median_ms(lambda: grid.on_validation_epoch_end(trainer, model), device)
    trainer.limit_val_batches = 1.0  # the whole validation split from here on
    for size in (256, 1000):
        datamodule.eval_batch_size = size
        rows[f"validation pass, batches of {size}"] = median_ms(
            lambda: trainer.validate(model, datamodule=datamodule, verbose=False), device
        )
    print(f"\nper-epoch costs on {device} (median of {REPEATS}, ms):")
    for name, value in rows.items():
        print(f"  {name:<45} {value:8.1f}")


if __name__ == "__main__":
    main()
