import math
from pathlib import Path

import lightning as L
import torch


class StopOnNonFiniteLoss(L.Callback):
    """Stops training after a step whose loss is NaN or infinite, before a checkpoint can be written
    from the broken weights: the last good checkpoint (``last.ckpt``, end of the previous epoch) is
    kept. The error names the first such step and the likely causes.

    The loss is tested at every step where it lives; on a GPU the answer is read back every
    ``check_every`` steps and before every validation and epoch end (so before any checkpoint),
    because reading it at every step would make the host wait for the GPU at every step.
    """

    def __init__(self, check_every: int = 50) -> None:
        if check_every < 1:
            raise ValueError(f"callbacks.stop_on_nonfinite_loss.check_every={check_every} must be at least 1 (steps).")
        self.check_every = check_every
        self.first_bad: torch.Tensor | None = None  # step, 0-based, of the first non-finite loss; -1: none yet
        self.bad_value: torch.Tensor | None = None
        self.where: dict[int, tuple[int, int]] = {}  # step -> (epoch, batch), for the steps not yet read back

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is None:
            return
        loss = loss.detach().float()
        if self.first_bad is None or self.first_bad.device != loss.device:
            self.first_bad = torch.full((), -1, dtype=torch.long, device=loss.device)
            self.bad_value = torch.zeros((), device=loss.device)
        step = trainer.global_step - 1  # the optimizer has stepped already: global_step counts this batch
        self.where[step] = (trainer.current_epoch, batch_idx)
        new = ~torch.isfinite(loss).all() & (self.first_bad < 0)
        self.first_bad = torch.where(new, step, self.first_bad)
        self.bad_value = torch.where(new, loss.mean(), self.bad_value)
        if loss.device.type == "cpu" or (batch_idx + 1) % self.check_every == 0:
            self._check(trainer)

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._check(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._check(trainer)

    def _check(self, trainer: L.Trainer) -> None:
        if self.first_bad is None:
            return
        step = int(self.first_bad)  # on a GPU, the one wait for the device
        if step < 0:
            self.where.clear()
            return
        epoch, batch_idx = self.where[step]
        kept = Path(trainer.checkpoint_callback.dirpath) / "last.ckpt" if trainer.checkpoint_callback and trainer.checkpoint_callback.dirpath else None
        kept_text = f"the last good checkpoint is {kept}" if kept is not None and kept.is_file() else "no checkpoint had been written yet"
        value = float(self.bad_value)
        raise FloatingPointError(
            f"training loss is {'NaN' if math.isnan(value) else value} at step {step} (epoch {epoch}, batch {batch_idx}); "
            f"training stopped and {kept_text}. Likely causes: a learning rate too high (model.optimizer.lr, scheduler.max_lr), "
            f"float16 overflow (trainer.precision=16-mixed: use bf16-mixed or 32-true), or NaN in the data."
        )
