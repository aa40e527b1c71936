import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only

from dae import figures
from dae.variational import VariationalDenoiser


class PriorSamples(L.Callback):
    """For a VAE (a :class:`~dae.variational.VariationalDenoiser`), ``rows`` rows of ten images decoded
    from the prior (a generator seeded with ``seed``), saved to ``path`` at the end of fit; for other
    models, nothing."""

    def __init__(self, path: str, rows: int = 4, seed: int = 0) -> None:
        self.path, self.rows, self.seed = path, rows, seed

    @rank_zero_only
    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not isinstance(pl_module, VariationalDenoiser):
            return
        was_training = pl_module.training
        pl_module.eval()
        generator = torch.Generator(device=pl_module.device).manual_seed(self.seed)
        rows = [(f"z ~ N(0, I) #{r + 1}", pl_module.sample(10, generator).float().cpu()) for r in range(self.rows)]
        pl_module.train(was_training)
        figures.digit_grid(rows, self.path, title="samples from the prior", digit_columns=False)
