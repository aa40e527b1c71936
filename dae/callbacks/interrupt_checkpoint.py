import signal
import threading
from pathlib import Path

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException

from dae.errors import summary

# What asks a run to stop: Ctrl-C (KeyboardInterrupt), SIGTERM (timeout, systemd, Kubernetes, SLURM at its
# time limit), SIGHUP (a closed terminal), SIGUSR1 (SLURM's warning before the time limit, `scancel -s USR1`).
PASSED_ON = (signal.SIGHUP, signal.SIGUSR1)


class CheckpointOnInterrupt(L.Callback):
    """On Ctrl-C, SIGTERM, SIGHUP or SIGUSR1, saves ``interrupted.ckpt`` next to the other checkpoints
    before the run ends, and prints one line saying where it is and how to resume. ``last.ckpt`` (the
    end of the last full epoch) is left as it was, so ``resume=<job folder>`` still replays the run exactly.

    Lightning stops a run at the next step on SIGTERM (``SIGTERMException``); while training, SIGHUP and
    SIGUSR1 are passed on to its SIGTERM handler, unless another handler owns them already (Lightning's
    SLURM auto-requeue owns SIGUSR1 in a SLURM job: it saves its own checkpoint and requeues the job).
    Outside training (classifier M's, the final validation and test) they keep their default and end the
    process. :attr:`signal` is the signal that stopped the run (``dae.train`` exits with 128 + its number).
    A checkpoint that cannot be written (a full disk) is said in the line instead.
    """

    def __init__(self, filename: str = "interrupted.ckpt") -> None:
        self.filename = filename
        self.signal: int | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Lightning has registered its SIGTERM handler by now (Trainer._run, after the setup hooks).
        if threading.current_thread() is not threading.main_thread():
            return
        lightning_sigterm = signal.getsignal(signal.SIGTERM)

        def stop(signum, frame) -> None:
            self.signal = self.signal or signum
            if callable(lightning_sigterm):
                lightning_sigterm(signal.SIGTERM, frame)

        signal.signal(signal.SIGTERM, stop)
        for signum in PASSED_ON:
            if signal.getsignal(signum) in (signal.SIG_DFL, None):
                signal.signal(signum, stop)
        # Lightning puts every handler back as it was when the run ends (its signal connector's teardown).

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if (
            not isinstance(exception, (KeyboardInterrupt, SIGTERMException))
            or trainer.checkpoint_callback is None
            or not trainer.checkpoint_callback.dirpath
        ):
            return
        folder = Path(trainer.checkpoint_callback.dirpath)
        path = folder / self.filename
        try:
            trainer.save_checkpoint(path)  # written by rank zero; the checkpoint IO writes then renames
            saved = f"saved {path}"
        except OSError as error:  # raised here, it would end Lightning's shutdown half-way
            saved = f"could not save {path} ({summary(error)})"
        if not trainer.is_global_zero:
            return
        cause = "Ctrl-C" if isinstance(exception, KeyboardInterrupt) else signal.Signals(self.signal or signal.SIGTERM).name
        resume = (
            f"continue from the end of the last full epoch with: python -m dae.train resume={folder.parent}"
            if (folder / "last.ckpt").is_file()
            else "no epoch had ended, so there is nothing to resume: start the run again"
        )
        print(f"\ninterrupted by {cause} at step {trainer.global_step} (epoch {trainer.current_epoch}): {saved}; {resume}", flush=True)
