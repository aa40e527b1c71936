import lightning as L
from lightning.pytorch.utilities import rank_zero_only

from dae.callbacks.base import ReportCallback
from dae.callbacks.common import tensorboard
from dae.scoring.probe import ProbeSettings, run_probe


class SVMProbe(ReportCallback):
    """After testing, the SVM probe of ``python -m dae.probe`` on the module in memory:
    writes ``probe/report.json``, ``probe/report.txt`` and ``probe/latent_2d.png`` into
    ``out_dir``, the embedding to TensorBoard's PROJECTOR, and ``hp/probe_acc``.
    Off by default (it takes minutes): ``callbacks=with_probe``."""

    hp_metrics = ("hp/probe_acc",)

    def __init__(self, out_dir: str, cache_dir: str | None = None, **settings) -> None:
        self.out_dir, self.cache_dir = out_dir, cache_dir
        self.settings = ProbeSettings(**settings)
        self.result: dict | None = None

    @rank_zero_only
    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.result = run_probe(pl_module, trainer.datamodule, self.settings, self.out_dir, tensorboard(trainer), self.cache_dir)
        for logger in trainer.loggers:
            logger.log_metrics({"hp/probe_acc": self.result["accuracy"]}, step=trainer.global_step)
