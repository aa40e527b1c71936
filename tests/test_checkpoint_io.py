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


def test_a_file_size_limit_keeps_the_previous_checkpoint_and_says_what_failed(tmp_path):
    io = AtomicCheckpointIO()
    path = tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint({"epoch": 0, "state_dict": {"w": torch.zeros(1000)}}, path)
    before = path.read_bytes()

    with file_size_limit(100_000), pytest.raises(CheckpointWriteError) as caught:
        io.save_checkpoint({"epoch": 1, "state_dict": {"w": torch.ones(500_000)}}, path)  # 2 MB

    message = str(caught.value)
    assert (
        f"could not write checkpoint {path} (2.0 MB): File too large" in message and "the previous last.ckpt is kept as it was" in message
    )
    assert "larger than this process or file system may write (ulimit -f" in message and "disk is full" not in message.lower()
    assert message.endswith(f"then continue with resume={tmp_path}.")  # last.ckpt is there to resume from
    assert path.read_bytes() == before  # the old checkpoint, whole
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]  # no partial temporary file
    assert io.load_checkpoint(path)["epoch"] == 0


def test_a_first_checkpoint_that_does_not_fit_leaves_nothing(tmp_path):
    path = tmp_path / "checkpoints" / "best.ckpt"
    with file_size_limit(100_000), pytest.raises(CheckpointWriteError, match="no best.ckpt was written before") as caught:
        AtomicCheckpointIO().save_checkpoint({"w": torch.ones(500_000)}, path)
    assert list(path.parent.iterdir()) == []
    assert "resume=" not in str(caught.value) and str(caught.value).endswith("then start the run again (no epoch had ended).")
