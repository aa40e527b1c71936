"""The training config as ``python -m dae.train`` composes it, for the study scripts in this folder
(they run from the repository root; Python finds this module beside them)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

import dae  # noqa: F401 - registers the configs' resolvers

CONF = Path(__file__).resolve().parents[2] / "conf"

# Overrides that leave only the training loop: no callbacks, logger, checkpoints, progress bar or summary.
NO_CALLBACKS = [
    "callbacks.progress_bar=null", "callbacks.reconstruction_grid=null", "callbacks.loss_curves=null", "callbacks.prior_samples=null",
    "callbacks.checkpoint_on_interrupt=null", "callbacks.stop_on_nonfinite_loss=null", "callbacks.model_checkpoint=null",
    "callbacks.classifier_report=null", "logger.tensorboard=null", "+trainer.enable_checkpointing=false", "+trainer.enable_progress_bar=false",
    "+trainer.enable_model_summary=false",
]


def train_config(overrides: list[str], prefix: str = "study_") -> DictConfig:
    """conf/train.yaml with ``overrides``, classifier M's report off, and a fresh temporary job folder."""
    out = tempfile.mkdtemp(prefix=prefix)
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3", job_name="train"):
        return compose("train", overrides=["callbacks.classifier_report=null", f"paths.output_dir={out}", *overrides])


def warmed_up(overrides: list[str], prefix: str):
    """The data module, model and trainer that ``dae.train`` builds with ``overrides``, after one untimed
    epoch of ``Trainer.fit`` (allocations, kernel choices, CUDA graphs). Raise ``trainer.fit_loop.max_epochs``
    and call ``trainer.fit`` again for the epochs to study."""
    from dae.train import build  # here: NO_CALLBACKS alone needs no torch

    datamodule, model, trainer = build(train_config(["trainer.max_epochs=1", *overrides], prefix=prefix))
    trainer.fit(model, datamodule=datamodule)
    return datamodule, model, trainer
