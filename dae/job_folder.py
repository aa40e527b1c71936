"""A job folder belongs to one run: :class:`ClaimJobFolder`, a Hydra callback of ``python -m dae.train``
(conf/hydra/default.yaml), claims it before Hydra writes anything there.

A new run creates its folder's ``.hydra/`` with one ``mkdir``, which either creates it or fails: of two runs
started together into one ``hydra.run.dir``, exactly one gets it. A folder that holds a job already (its
``.hydra/``) is refused in one line that offers ``resume=`` or another folder. The run then holds a lock
(``flock``) on ``.hydra/`` for as long as its process lives, and ``resume=<job folder>`` takes the same lock,
so that a job in use is neither resumed nor joined. Sweeps claim their folder the same way
(:func:`claim_sweep`). The processes that Lightning or SLURM start for the other ranks of a run do not claim:
their rank 0 has.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from dae.cli import one_line_errors
from dae.errors import JobError
from dae.files import make_folder

_held: list[int] = []  # the locks of this process: open descriptors, released when it exits

ELSEWHERE = "choose another folder (hydra.run.dir=<new folder>, or leave it out for a fresh outputs/runs/<time>)"


def _lock(folder: Path) -> bool:
    """Take the lock on ``folder`` for the rest of this process; False if another process holds it."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    except OSError:  # a file system without flock (some network ones): the exclusive mkdir still guards new runs
        pass
    _held.append(fd)
    return True


def _in_use(folder: Path) -> bool:
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # closing drops a shared lock taken here


def release() -> None:
    """Drop this process's locks (a process's locks go when it exits; tests that run several jobs in one call this)."""
    while _held:
        os.close(_held.pop())


def claim_run(folder: str | Path, resume: bool = False) -> None:
    """Claim the job folder of a single run, or raise a :class:`~dae.errors.JobError` that says whose it is."""
    release()  # a run that failed in this process before Hydra's end-of-run callback (in-process tests) held one
    folder = Path(folder)
    marker = folder / ".hydra"
    if resume:
        if marker.is_dir() and not _lock(marker):
            raise JobError(f"resume={folder} is in use: another run is training in it; wait for that run to end.")
        return
    make_folder(folder, "hydra.run.dir")
    try:
        marker.mkdir()
    except FileExistsError:
        if _in_use(marker):
            raise JobError(f"hydra.run.dir={folder} is in use by another run; wait for it to end, or {ELSEWHERE}.") from None
        if (folder / "metrics.json").is_file():
            raise JobError(
                f"hydra.run.dir={folder} holds a finished job (metrics.json); a new run there would mix with it: {ELSEWHERE}."
            ) from None
        raise JobError(
            f"hydra.run.dir={folder} holds a job that did not finish; continue it with resume={folder}, or {ELSEWHERE}."
        ) from None
    _lock(marker)


def claim_sweep(folder: str | Path, resuming: bool) -> None:
    """Claim a sweep's folder: a new sweep needs one that holds no sweep (no ``multirun.yaml``), a resumed one its
    own; either way no other sweep may be running in it."""
    release()
    folder = make_folder(folder, "hydra.sweep.dir")
    if not _lock(folder):
        raise JobError(f"hydra.sweep.dir={folder} is in use by another sweep; wait for it to end, or choose another folder.")
    if not resuming and (folder / "multirun.yaml").exists():
        release()
        raise JobError(
            f"hydra.sweep.dir={folder} holds a sweep already (multirun.yaml); continue it with -m resume={folder}, or choose another "
            "folder (hydra.sweep.dir=<new folder>, or leave it out for a fresh outputs/multirun/<time>)."
        )


def is_first_rank() -> bool:
    """False in the processes that Lightning (``LOCAL_RANK``) or SLURM (``SLURM_PROCID``) started for a run's other ranks."""
    return all(os.environ.get(name, "0") == "0" for name in ("LOCAL_RANK", "RANK", "SLURM_PROCID"))


class ClaimJobFolder(Callback):
    """Claims the folder of a single run (:func:`claim_run`) before Hydra writes to it, or ends the command with
    one line saying whose it is; lets it go when the run ends."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not is_first_rank():
            return
        HydraConfig.instance().set_config(config)  # as Hydra does before it reads hydra.run.dir
        with one_line_errors():  # a SystemExit: Hydra turns a callback's other errors into warnings and goes on
            folder = Path(str(OmegaConf.select(config, "hydra.run.dir"))).expanduser().resolve()
            claim_run(folder, resume=bool(config.get("resume")))

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        release()
