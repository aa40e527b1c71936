"""dae.callbacks.nonfinite_loss: a NaN or infinite loss stops the run, naming the step; last.ckpt is kept."""

from pathlib import Path

import pytest
import torch
from omegaconf import open_dict

from dae.denoiser import Denoiser
from dae.training import train


def test_nonfinite_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(train_cfg, monkeypatch):
    original = Denoiser.training_step

    def nan_from_step_6(self, batch, batch_idx):
        loss = original(self, batch, batch_idx)
        return loss * float("nan") if self.trainer.global_step >= 6 else loss

    monkeypatch.setattr(Denoiser, "training_step", nan_from_step_6)
    with open_dict(train_cfg):
        train_cfg.trainer.max_epochs = 3  # 4 batches an epoch: the NaN comes in the second epoch
    with pytest.raises(
        FloatingPointError, match=r"training loss is NaN at step 6 \(epoch 1, batch 2\).*last good checkpoint is .*last.ckpt"
    ):
        train(train_cfg)
    state = torch.load(Path(train_cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True)
    assert state["epoch"] == 0 and all(torch.isfinite(v).all() for v in state["state_dict"].values() if v.is_floating_point())
