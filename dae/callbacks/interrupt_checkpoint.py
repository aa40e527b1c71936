from pathlib import Path

import lightning as L


class CheckpointOnInterrupt(L.Callback):
    """On Ctrl-C (KeyboardInterrupt), saves ``interrupted.ckpt`` next to the other checkpoints
    before Lightning shuts down; ``last.ckpt`` (end of the last full epoch) is left as it was, so
    ``resume=<job folder>`` still replays the run exactly."""

    def __init__(self, filename: str = "interrupted.ckpt") -> None:
        self.filename = filename

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if not isinstance(exception, KeyboardInterrupt) or trainer.checkpoint_callback is None or not trainer.checkpoint_callback.dirpath:
            return
        path = Path(trainer.checkpoint_callback.dirpath) / self.filename
        trainer.save_checkpoint(path)  # written by rank zero; Lightning's checkpoint IO writes then renames
        print(f"\ninterrupted at step {trainer.global_step} (epoch {trainer.current_epoch}): saved {path}", flush=True)
