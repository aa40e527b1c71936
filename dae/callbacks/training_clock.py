import time

import lightning as L


class TrainingClock(L.Callback):
    """Keeps the training time in every checkpoint (``train_seconds``), so that a resumed run
    counts the time it had trained before it was stopped as well as its own."""

    def __init__(self) -> None:
        self.before, self.start = 0.0, None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start = time.perf_counter()

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        self.before = float(checkpoint.get("train_seconds", 0.0))

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        elapsed = time.perf_counter() - self.start if self.start is not None else 0.0
        checkpoint["train_seconds"] = self.before + elapsed
