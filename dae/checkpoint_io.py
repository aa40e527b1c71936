"""Checkpoint files that are whole or absent: written beside the target, then renamed over it."""

from __future__ import annotations

import errno
import io
import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from dae.files import write_atomic

NO_SPACE = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (disk full, file too large, quota): the previous one is kept."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint I/O, with local files written through :func:`dae.files.write_atomic`
    (a temporary file in the same folder, flushed to disk, then renamed): a full disk leaves the
    previous checkpoint as it was and no partial file, and the error says so."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if storage_options is not None or "://" in str(path):
            return super().save_checkpoint(checkpoint, path, storage_options)  # remote storage: Lightning's own way
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        path = Path(path)
        try:
            write_atomic(path, buffer.getbuffer())
        except OSError as e:
            if e.errno not in NO_SPACE:
                raise
            kept = f"the previous {path.name} is kept as it was" if path.exists() else f"no {path.name} was written before"
            raise CheckpointWriteError(
                e.errno,
                f"could not write checkpoint {path} ({buffer.getbuffer().nbytes / 1e6:.1f} MB): {os.strerror(e.errno)}; {kept}, and no partial file is left. "
                f"Free space in {path.parent}, then continue with resume=<the job folder>.",
            ) from e
