"""Where the project's training path makes the host wait for the GPU, and what the host does per step.

    python experiments/speed/syncs.py trainer=gpu [overrides]            # graphed steps (GraphedDenoiser)
    python experiments/speed/syncs.py trainer=gpu +model.cuda_graph=false  # the same module, eager steps
    python experiments/speed/syncs.py trainer.accelerator=gpu              # the plain Denoiser

After one untimed epoch (warm-up, graph capture), one epoch of ``Trainer.fit`` runs with torch's sync
debug mode on (it warns at each operation that waits for the device) and with ``Tensor.item`` traced.
It prints each place in the code that waited, with its count and the host's time in it; the host's time
per step (from one step's start to the next, validation excluded) and in how many steps the GPU had
already run dry when the step began (host-bound steps). Then it checks whether a non-blocking copy of a
small pageable (not pinned) CPU tensor waits for the work queued on the device, as the training
sampler's indices are such a tensor.
"""

from __future__ import annotations

import statistics
import sys
import time
import traceback
import warnings
from collections import Counter, defaultdict
from pathlib import Path

import lightning as L
import torch
from train_config import warmed_up


def where(skip: int) -> str:
    """Three frames of the stack, without its ``skip`` innermost ones (this function's and its callers')."""
    frames = traceback.extract_stack()[:-skip]
    return " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(frames[-3:]))


class StepClock(L.Callback):
    def __init__(self) -> None:
        self.starts: list[float] = []
        self.dry = 0  # steps that began with nothing left on the GPU's stream

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.starts.append(time.perf_counter())
        self.dry += torch.cuda.current_stream().query() if torch.cuda.is_available() else 0


def main(overrides: list[str] | None = None) -> None:
    overrides = sys.argv[1:] if overrides is None else overrides
    datamodule, model, trainer = warmed_up(overrides, prefix="syncs_")
    clock = StepClock()
    trainer.callbacks.append(clock)
    waits: Counter = Counter()
    seconds: defaultdict = defaultdict(float)
    item = torch.Tensor.item

    def traced_item(self):
        start = time.perf_counter()
        value = item(self)
        key = f"item ({self.device.type}) at {where(2)}"
        waits[key] += 1
        seconds[key] += time.perf_counter() - start
        return value

    def on_warning(message, category, filename, lineno, file=None, line=None) -> None:
        if "synchroniz" in str(message):  # torch's sync debug mode: "called a synchronizing CUDA operation"
            waits[f"synchronizing operation at {where(3)}"] += 1

    trainer.fit_loop.max_epochs = 2
    torch.Tensor.item = traced_item
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = on_warning
        if torch.cuda.is_available():
            torch.cuda.set_sync_debug_mode("warn")
        try:
            trainer.fit(model, datamodule=datamodule)
        finally:
            if torch.cuda.is_available():
                torch.cuda.set_sync_debug_mode("default")
            torch.Tensor.item = item
    steps = [b - a for a, b in zip(clock.starts, clock.starts[1:])]
    print(
        f"{len(clock.starts)} steps: host time per step median {statistics.median(steps) * 1e3:.3f} ms "
        f"(validation and epoch end excluded: median of step-to-step intervals); GPU already idle at the start of {clock.dry} steps"
    )
    for key, count in waits.most_common(25):
        print(f"{count:6d}  {seconds[key] * 1e3:8.1f} ms  {key}")
    if torch.cuda.is_available():
        for pinned in (False, True):
            x = torch.arange(128)
            x = x.pin_memory() if pinned else x
            torch.cuda.synchronize()
            torch.cuda._sleep(200_000_000)  # about 0.1 s of device work queued ahead of the copy
            start = time.perf_counter()
            x.to("cuda", non_blocking=True)
            copy = time.perf_counter() - start
            torch.cuda.synchronize()
            print(
                f"non-blocking copy of 128 int64 from {'pinned' if pinned else 'pageable'} memory behind 0.1 s of queued work: host waited {copy * 1e3:.2f} ms"
            )


if __name__ == "__main__":
    main()
