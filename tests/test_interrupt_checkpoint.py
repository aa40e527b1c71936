"""dae.callbacks.interrupt_checkpoint: Ctrl-C saves interrupted.ckpt beside last.ckpt before the run ends."""

import signal
from pathlib import Path

import lightning as L
import pytest
import torch
from omegaconf import open_dict

from dae.train import build


class CtrlC(L.Callback):
    """Presses Ctrl-C (raises KeyboardInterrupt) at the third step of the second epoch."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.current_epoch == 1 and batch_idx == 2:
            raise KeyboardInterrupt


def test_ctrl_c_saves_interrupted_ckpt_and_keeps_last_ckpt(train_cfg, capsys):
    with open_dict(train_cfg):
        train_cfg.trainer.max_epochs = 3
        train_cfg.callbacks.classifier_report = None
    datamodule, model, trainer = build(train_cfg)
    trainer.callbacks.append(CtrlC())
    handler = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit) as exit:
            trainer.fit(model, datamodule=datamodule)
    finally:
        signal.signal(signal.SIGINT, handler)  # Lightning ignores further Ctrl-C while it shuts down
    assert exit.value.code == 1
    folder = Path(train_cfg.paths.output_dir) / "checkpoints"
    interrupted, last = (torch.load(folder / name, weights_only=True) for name in ("interrupted.ckpt", "last.ckpt"))
    assert interrupted["global_step"] == 6 and last["global_step"] == 4  # mid-epoch, and the end of the last full epoch
    assert f"interrupted at step 6 (epoch 1): saved {folder / 'interrupted.ckpt'}" in capsys.readouterr().out
