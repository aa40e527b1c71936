import math
from pathlib import Path

import lightning as L
import torch

from dae.errors import ConfigError


class StopOnNonFiniteLoss(L.Callback):
    """Stops training after a step whose loss is NaN or infinite, before a checkpoint can be written
    from the broken weights: the last good checkpoint (``last.ckpt``, end of the previous epoch) is
    kept. The error names the first such step and the likely causes.

    Each step's loss is written into a window of ``check_every`` values on its device (one copy, no
    wait); the window is tested when it is full and before every validation and epoch end, so before
    any checkpoint. Reading a GPU's value back at every step would make the host wait for the GPU at
    every step; the CPU takes the same path, so the tests cover it.
    """

    def __init__(self, check_every: int = 50) -> None:
        if check_every < 1:
            raise ConfigError(f"callbacks.stop_on_nonfinite_loss.check_every={check_every} must be at least 1 (steps).")
        self.check_every = check_every
        self.window: torch.Tensor | None = None  # the losses of the steps not yet tested
        self.where: list[tuple[int, int, int]] = []  # (step, epoch, batch) of each value in the window

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is None:
            return
        loss = loss.detach()
        if self.window is None or self.window.device != loss.device:
            self.window, self.where = torch.empty(self.check_every, device=loss.device), []
        # global_step already counts this batch's optimizer step: the step, 0-based, is one less
        self.window[len(self.where)] = loss if loss.dim() == 0 else loss.float().mean()
        self.where.append((trainer.global_step - 1, trainer.current_epoch, batch_idx))
        if len(self.where) == self.check_every:
            self._check(trainer)

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._check(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._check(trainer)

    def _check(self, trainer: L.Trainer) -> None:
        if not self.where:
            return
        finite = torch.isfinite(self.window[: len(self.where)])
        if bool(finite.all()):  # on a GPU, the one wait for the device
            self.where.clear()
            return
        first = int((~finite).nonzero()[0])
        step, epoch, batch_idx = self.where[first]
        value = float(self.window[first])
        kept = (
            Path(trainer.checkpoint_callback.dirpath) / "last.ckpt"
            if trainer.checkpoint_callback and trainer.checkpoint_callback.dirpath
            else None
        )
        kept_text = f"the last good checkpoint is {kept}" if kept is not None and kept.is_file() else "no checkpoint had been written yet"
        raise FloatingPointError(
            f"training loss is {'NaN' if math.isnan(value) else value} at step {step} (epoch {epoch}, batch {batch_idx}); "
            f"training stopped and {kept_text}. Likely causes: a learning rate too high (model.optimizer.lr, scheduler.max_lr), "
            f"float16 overflow (trainer.precision=16-mixed: use bf16-mixed or 32-true), or NaN in the data."
        )
