"""What a callback that reports on the trained model may declare to the training run."""

from __future__ import annotations

from typing import ClassVar

import lightning as L


class ReportCallback(L.Callback):
    """A callback that judges the trained model after testing (classifier M's report, the SVM probe).

    ``dae.training.train`` reads two things from it before fitting: :attr:`hp_metrics`, the ``hp/...`` metrics
    it will log, which the TensorBoard HPARAMS tab then lists; and :meth:`prepare`, called in the
    launching process before any other process of a distributed run starts.
    """

    hp_metrics: ClassVar[tuple[str, ...]] = ()

    def prepare(self, trainer: L.Trainer, datamodule: L.LightningDataModule) -> None:
        """Get ready before training (e.g. load or train a model the report needs); nothing by default."""
