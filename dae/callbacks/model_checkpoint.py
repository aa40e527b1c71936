import os
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint

from dae.errors import ConfigError


class BestAndLastCheckpoint(ModelCheckpoint):
    """Lightning's :class:`~lightning.pytorch.callbacks.ModelCheckpoint`, keeping the ``save_top_k``
    best checkpoints by ``monitor`` and, at the end of every epoch, ``last.ckpt`` to resume from.

    Lightning 2.6's own ``save_last`` writes ``last.ckpt`` only at a step where it has just written a
    best checkpoint: after an epoch that did not improve the monitor, ``last.ckpt`` would still be an
    older epoch's. Here it follows every epoch, written where Lightning writes the best one (after
    the epoch's validation, or at the epoch's end when there is none). Where the epoch's best
    checkpoint has just been written, ``last.ckpt`` is a hard link to that file: the same bytes,
    serialised and written once (a checkpoint takes tens of milliseconds to write, and an epoch of the
    default model on a GPU under a second). Replacing either file later leaves the other as it was:
    both are replaced by renaming, never rewritten in place.

    Args: those of ``ModelCheckpoint``, except ``save_last``: ``last.ckpt`` is always kept.
    """

    LAST = "last.ckpt"

    def __init__(self, **kwargs) -> None:
        if "save_last" in kwargs:
            raise ConfigError(
                f"save_last={kwargs['save_last']!r}: {type(self).__name__} always keeps {self.LAST}; remove save_last from its config."
            )
        super().__init__(**kwargs)
        self._last_written_step = -1

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        best = self.best_model_path
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._write_last(trainer, best_before=best)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        best = self.best_model_path
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._write_last(trainer, best_before=best)

    def _write_last(self, trainer: L.Trainer, best_before: str) -> None:
        if (
            trainer.fast_dev_run
            or trainer.sanity_checking
            or trainer.state.fn != "fit"
            or self._last_written_step == trainer.global_step
            or not self.dirpath
        ):
            return
        path = os.path.join(self.dirpath, self.LAST)
        self.last_model_path = path  # before saving: it is part of the saved state
        just_written = self.best_model_path if self.best_model_path != best_before else ""
        linked = trainer.strategy.broadcast(_link(just_written, path) if just_written and trainer.is_global_zero else False)
        if not linked:
            trainer.save_checkpoint(path, self.save_weights_only)
        self._last_written_step = trainer.global_step


def _link(target: str, path: str) -> bool:
    """Make ``path`` a hard link to ``target``, replacing it by a rename; False where the file system
    cannot (remote storage, no hard links), for the caller to write the file instead."""
    if "://" in target:
        return False
    tmp = Path(path).with_name(f".{Path(path).name}.{os.getpid()}.link")
    try:
        tmp.unlink(missing_ok=True)
        os.link(target, tmp)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        return False
    return True
