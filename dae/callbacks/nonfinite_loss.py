import math
from pathlib import Path

import lightning as L
import torch


class StopOnNonFiniteLoss(L.Callback):
    """Stops training at the first step whose loss is NaN or infinite, before a checkpoint can be
    written from the broken weights: the last good checkpoint (``last.ckpt``, end of the previous
    epoch) is kept. The error names the step and the likely causes."""

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is None or bool(torch.isfinite(loss.detach()).all()):
            return
        kept = Path(trainer.checkpoint_callback.dirpath) / "last.ckpt" if trainer.checkpoint_callback and trainer.checkpoint_callback.dirpath else None
        kept_text = f"the last good checkpoint is {kept}" if kept is not None and kept.is_file() else "no checkpoint had been written yet"
        value = float(loss.detach().float().mean())
        step = trainer.global_step - 1  # the optimizer has stepped already: global_step counts this batch
        raise FloatingPointError(
            f"training loss is {'NaN' if math.isnan(value) else value} at step {step} (epoch {trainer.current_epoch}, batch {batch_idx}); "
            f"training stopped and {kept_text}. Likely causes: a learning rate too high (model.optimizer.lr, scheduler.max_lr), "
            f"float16 overflow (trainer.precision=16-mixed: use bf16-mixed or 32-true), or NaN in the data."
        )
