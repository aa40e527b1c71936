import lightning as L
from lightning.pytorch.utilities import rank_zero_only

from dae import figures


class LossCurves(L.Callback):
    """Train and validation loss per epoch, saved as a figure at the end of fit."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.train: dict[int, float] = {}
        self.val: dict[int, float] = {}

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if "train/loss_epoch" in trainer.callback_metrics:
            self.train[trainer.current_epoch + 1] = float(trainer.callback_metrics["train/loss_epoch"])

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # on_validation_end, not ..._epoch_end: callbacks' epoch-end hooks run before the module logs val/loss
        if not trainer.sanity_checking and trainer.state.fn == "fit" and "val/loss" in trainer.callback_metrics:
            self.val[trainer.current_epoch + 1] = float(trainer.callback_metrics["val/loss"])

    def state_dict(self) -> dict:
        return {"train": self.train, "val": self.val}

    def load_state_dict(self, state_dict: dict) -> None:
        self.train, self.val = dict(state_dict["train"]), dict(state_dict["val"])

    @rank_zero_only
    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        series = {
            name: (list(points), list(points.values())) for name, points in (("train", self.train), ("validation", self.val)) if points
        }
        if series:
            figures.curves(
                series,
                self.path,
                xlabel="epoch",
                ylabel=f"loss ({type(getattr(pl_module, 'loss', None)).__name__})",
                title="loss per epoch",
            )
