"""A checkpoint write that runs out of space: a clear error, the previous checkpoint intact, no partial file.

The failure is the operating system's own: the size limit for files this process writes
(RLIMIT_FSIZE) is lowered below the checkpoint's size, so ``write`` fails with EFBIG as it
fails with ENOSPC on a full disk.
"""

import resource
import signal
from contextlib import contextmanager

import pytest
import torch

from dae.checkpoint_io import AtomicCheckpointIO, CheckpointWriteError


@contextmanager
def file_size_limit(nbytes: int):
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def test_no_space_keeps_the_previous_checkpoint(tmp_path):
    io = AtomicCheckpointIO()
    path = tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint({"epoch": 0, "state_dict": {"w": torch.zeros(1000)}}, path)
    before = path.read_bytes()

    with file_size_limit(100_000), pytest.raises(CheckpointWriteError) as caught:
        io.save_checkpoint({"epoch": 1, "state_dict": {"w": torch.ones(500_000)}}, path)  # 2 MB

    message = str(caught.value)
    assert f"could not write checkpoint {path} (2.0 MB)" in message and "the previous last.ckpt is kept as it was" in message
    assert "resume=" in message
    assert path.read_bytes() == before  # the old checkpoint, whole
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]  # no partial temporary file
    assert io.load_checkpoint(path)["epoch"] == 0


def test_a_first_checkpoint_that_does_not_fit_leaves_nothing(tmp_path):
    path = tmp_path / "best.ckpt"
    with file_size_limit(100_000), pytest.raises(CheckpointWriteError, match="no best.ckpt was written before"):
        AtomicCheckpointIO().save_checkpoint({"w": torch.ones(500_000)}, path)
    assert list(tmp_path.iterdir()) == []
