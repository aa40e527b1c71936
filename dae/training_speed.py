"""The training step as a plain loop runs it, and the device and precision a training config asks for: what
``python -m dae.bench`` times against the project's own training (its ``bare`` and ``tutorial`` modes), and what
the speed study's scripts time (experiments/speed)."""

from __future__ import annotations

import lightning as L
import torch
from omegaconf import DictConfig

from dae.errors import ConfigError
from dae.speedups.cuda_graphs import GraphedDenoiser

AUTOCAST = {"32-true": None, "32": None, "bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


def device_of(cfg: DictConfig) -> torch.device:
    accelerator = str(cfg.trainer.accelerator)
    if accelerator == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if accelerator in ("gpu", "cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"trainer.accelerator={accelerator} but torch sees no CUDA device; use trainer.accelerator=cpu.")
        return torch.device("cuda")
    if accelerator == "cpu":
        return torch.device("cpu")
    raise ConfigError(f"trainer.accelerator={accelerator} is not one of auto, cpu, gpu for the bench.")


def autocast_dtype(cfg: DictConfig) -> torch.dtype | None:
    precision = str(cfg.trainer.precision)
    if precision not in AUTOCAST:
        raise ConfigError(f"trainer.precision={precision} is not one the bench knows: {', '.join(AUTOCAST)}.")
    return AUTOCAST[precision]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Stepper:
    """One optimisation step of the module on ``(noisy, clean)``, under autocast (with a gradient
    scaler for float16), as a plain loop does it; for a :class:`~dae.speedups.cuda_graphs.GraphedDenoiser`
    on a GPU (``trainer=gpu``), forward, loss and backward replayed from a CUDA graph as its training
    does it, then the optimizer's step."""

    def __init__(self, module: L.LightningModule, device: torch.device, dtype: torch.dtype | None) -> None:
        self.module, self.device, self.dtype = module.to(device).train(), device, dtype
        scaler = dtype == torch.float16
        optimizer = module.prepare_steps(device, scaler=scaler) if isinstance(module, GraphedDenoiser) else module.optimizer
        self.graphs = module.step_graphs if isinstance(module, GraphedDenoiser) else None  # set by prepare_steps where graphs apply
        self.optimizer = optimizer(params=module.parameters())
        self.scaler = torch.amp.GradScaler(device.type, enabled=scaler)

    def __call__(self, noisy: torch.Tensor, clean: torch.Tensor) -> None:
        with torch.autocast(self.device.type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None):
            loss = self.graphs.replay(noisy, clean) if self.graphs is not None else None  # replayed: the gradients are in .grad
            replayed = loss is not None
            if not replayed:
                _, loss = self.module.model_step((noisy, clean, None))
        if not replayed:
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
