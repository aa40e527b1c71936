import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only
from torchvision.utils import make_grid

from dae import figures
from dae.callbacks.common import tensorboard
from dae.inference import denoise


class ReconstructionGrid(L.Callback):
    """The original study's figure: one column per digit 0-9 (the first of each in the validation
    split, with its fixed noise), rows original / noisy / denoised.

    Logged to TensorBoard's IMAGES tab after every validation epoch; saved to ``path`` at the end of fit.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.noisy = self.clean = None

    def _rows(self, pl_module: L.LightningModule) -> list[tuple[str, torch.Tensor]]:
        return [
            ("original", self.clean),
            ("noisy", self.noisy),
            ("denoised", denoise(pl_module, self.noisy, precision=pl_module.trainer.precision)),
        ]

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.noisy is None:
            self.noisy, self.clean = trainer.datamodule.digit_examples("val")

    @rank_zero_only
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        writer = tensorboard(trainer)
        if trainer.sanity_checking or writer is None or trainer.state.fn != "fit":
            return
        images = torch.cat([row for _, row in self._rows(pl_module)])
        writer.add_image("reconstructions", make_grid(images, nrow=10, pad_value=1.0), trainer.global_step)

    @rank_zero_only
    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        figures.digit_grid(self._rows(pl_module), self.path, title=f"after {trainer.current_epoch} epochs")
