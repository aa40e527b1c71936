"""Checkpoint files that are whole or absent: written beside the target, then renamed over it."""

from __future__ import annotations

import errno
import io
import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from dae.errors import CheckpointWriteError
from dae.files import write_atomic

# What each "cannot write this file" error means, and its fix.
FIXES = {
    errno.ENOSPC: "The disk is full: free space in {folder}",
    errno.EDQUOT: "The disk quota is used up: free space in {folder} or raise the quota",
    errno.EFBIG: "The file is larger than this process or file system may write (ulimit -f, or a file system's size limit): "
    "raise the limit or put the job on another file system",
}
NO_SPACE = set(FIXES)


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
            fix = FIXES[e.errno].format(folder=path.parent)
            last = path.parent / "last.ckpt"
            resume = (
                f", then continue with resume={path.parent.parent}" if last.is_file() else ", then start the run again (no epoch had ended)"
            )
            raise CheckpointWriteError(
                e.errno,
                f"could not write checkpoint {path} ({buffer.getbuffer().nbytes / 1e6:.1f} MB): {os.strerror(e.errno)}; {kept}, "
                f"and no partial file is left. {fix}{resume}.",
            ) from e
