"""dae.callbacks.model_checkpoint: the best checkpoint by val/psnr, and last.ckpt after every epoch."""

from pathlib import Path

import pytest
import torch
from omegaconf import open_dict

from dae.callbacks import BestAndLastCheckpoint
from dae.training import train


def test_last_checkpoint_follows_every_epoch_and_shares_the_best_ones_file(train_cfg):
    with open_dict(train_cfg):
        train_cfg.trainer.max_epochs = 3
        train_cfg.callbacks.model_checkpoint.mode = "min"  # val/psnr rises on the fixture: only epoch 0 is "best"
        train_cfg.callbacks.classifier_report = None
    train(train_cfg)
    folder = Path(train_cfg.paths.output_dir) / "checkpoints"
    (best,) = folder.glob("best-*.ckpt")
    last = folder / "last.ckpt"
    assert torch.load(best, weights_only=True)["epoch"] == 0
    assert torch.load(last, weights_only=True)["epoch"] == 2  # Lightning 2.6's save_last would have left epoch 0 here
    assert not best.samefile(last) and sorted(p.name for p in folder.iterdir()) == [best.name, "last.ckpt"]  # no temporary file left


def test_last_checkpoint_is_the_best_ones_file_when_the_epoch_improved(train_cfg):
    train(train_cfg)  # one epoch: its checkpoint is the best
    folder = Path(train_cfg.paths.output_dir) / "checkpoints"
    (best,) = folder.glob("best-*.ckpt")
    assert best.samefile(folder / "last.ckpt")  # written once, linked


def test_best_and_last_checkpoint_refuses_save_last():
    with pytest.raises(ValueError, match=r"save_last=True: BestAndLastCheckpoint always keeps last.ckpt; remove save_last"):
        BestAndLastCheckpoint(save_last=True)
