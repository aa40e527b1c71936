"""dae.callbacks.interrupt_checkpoint: Ctrl-C, SIGTERM, SIGHUP and SIGUSR1 save interrupted.ckpt beside
last.ckpt, say where it is and how to resume, and dae.train exits with 128 + the signal's number."""

import signal
from pathlib import Path

import lightning as L
import pytest
import torch
from omegaconf import open_dict

from dae.training import build, train


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
    line = f"interrupted by Ctrl-C at step 6 (epoch 1): saved {folder / 'interrupted.ckpt'}; continue from the end of the last full epoch with: python -m dae.train resume={folder.parent}"
    assert line in capsys.readouterr().out


def signal_at_step_6(train_cfg, signum) -> None:
    with open_dict(train_cfg):
        train_cfg.trainer.max_epochs = 3
        train_cfg.callbacks.classifier_report = None
        train_cfg.callbacks.signal = {"_target_": "tests.helpers.SendSignal", "signum": int(signum), "step": 6}


@pytest.fixture
def handler_of():
    """Sets a signal's handler for one test (as a terminal or nohup leaves it), and puts the old one back."""
    before = {}

    def set_to(signum, handler):
        before.setdefault(signum, signal.getsignal(signum))
        signal.signal(signum, handler)

    yield set_to
    for signum, handler in before.items():
        signal.signal(signum, handler)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1], ids=lambda s: signal.Signals(s).name)
def test_a_stop_signal_saves_a_checkpoint_and_exits_with_128_plus_its_number(signum, train_cfg, capsys, handler_of):
    handler_of(signum, signal.SIG_DFL)  # as in a terminal
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1)}
    signal_at_step_6(train_cfg, signum)
    with pytest.raises(SystemExit) as exit:
        train(train_cfg)
    assert exit.value.code == 128 + signum  # 143 for SIGTERM, as a process killed by it
    assert {s: signal.getsignal(s) for s in handlers} == handlers  # put back as they were
    folder = Path(train_cfg.paths.output_dir) / "checkpoints"
    assert torch.load(folder / "interrupted.ckpt", weights_only=True)["global_step"] in (6, 7)  # Lightning stops at the next step
    out = capsys.readouterr().out
    assert f"interrupted by {signal.Signals(signum).name} at step" in out and f"saved {folder / 'interrupted.ckpt'}" in out
    assert f"resume={folder.parent}" in out
    assert not (folder.parent / "metrics.json").exists()


def test_under_nohup_a_hangup_is_ignored_and_the_run_goes_on(train_cfg, handler_of):
    handler_of(signal.SIGHUP, signal.SIG_IGN)  # what nohup does: the user asked the run to outlive the terminal
    signal_at_step_6(train_cfg, signal.SIGHUP)
    train(train_cfg)
    job = Path(train_cfg.paths.output_dir)
    assert (job / "metrics.json").is_file() and not (job / "checkpoints" / "interrupted.ckpt").exists()
    assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
