import atexit

import lightning as L
import torch.distributed as dist


def destroy_process_group() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


class DestroyProcessGroupAtExit(L.Callback):
    """Destroys the process group while the interpreter is still whole, when a rank process exits.

    Lightning does so for NCCL only. A gloo group (``trainer=ddp_cpu``) left to the interpreter's finalization
    can abort a rank that has finished its work (SIGABRT, "terminate called without an active exception"), and
    under ``ddp_spawn`` that fails the job."""

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if dist.is_available() and dist.is_initialized():
            atexit.unregister(destroy_process_group)  # once per process, however many stages run in it
            atexit.register(destroy_process_group)
