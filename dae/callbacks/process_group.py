import atexit

import lightning as L
import torch.distributed as dist


def destroy_if_initialized() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


class DestroyProcessGroupAtExit(L.Callback):
    """Destroys a rank's process group at interpreter exit (atexit), before finalization tears down gloo's threads.

    Lightning registers this for NCCL only (``lightning.fabric.utilities.distributed._init_dist_connection``). A gloo
    group (``trainer=ddp_cpu``) left to finalization can abort a rank that has finished its work (SIGABRT,
    "terminate called without an active exception"), and under ``ddp_spawn`` that fails the job. The group lives
    until the process exits, so that every stage a process runs (fit, validate, test) keeps it."""

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if dist.is_available() and dist.is_initialized():
            atexit.unregister(destroy_if_initialized)  # once per process, however many stages run in it
            atexit.register(destroy_if_initialized)
