"""The LightningModule that trains an autoencoder to denoise: noisy in, clean target."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

import lightning as L
import torch
from torch import nn
from torchmetrics import MeanMetric
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from dae.cuda_graphs import MAX_GRAPHS, StepGraphs, graph_passes


class ImageQuality(nn.Module):
    """Per-image PSNR and SSIM of the denoised output, PSNR of the noisy input, and the mean loss.

    Images are in [0, 1]; ``crop`` pixels are cut from each border first, so that the
    scores cover the original 28 x 28 area, not the padding.
    """

    def __init__(self, crop: int = 2) -> None:
        super().__init__()
        self.crop = crop
        self.psnr = PeakSignalNoiseRatio(data_range=1.0, dim=(1, 2, 3))
        self.noisy_psnr = PeakSignalNoiseRatio(data_range=1.0, dim=(1, 2, 3))
        self.ssim = StructuralSimilarityIndexMeasure(data_range=1.0)
        self.loss = MeanMetric()

    def _cut(self, x: torch.Tensor) -> torch.Tensor:
        c = self.crop
        return x[..., c : x.shape[-2] - c, c : x.shape[-1] - c] if c else x

    def update(self, noisy: torch.Tensor, denoised: torch.Tensor, clean: torch.Tensor, loss: torch.Tensor) -> None:
        noisy, denoised, clean = self._cut(noisy).float(), self._cut(denoised).float(), self._cut(clean).float()
        self.psnr.update(denoised, clean)
        self.ssim.update(denoised, clean)
        self.noisy_psnr.update(noisy, clean)
        self.loss.update(loss.detach().float(), weight=len(clean))

    def compute(self) -> dict[str, torch.Tensor]:
        return {"psnr": self.psnr.compute(), "ssim": self.ssim.compute(), "noisy_psnr": self.noisy_psnr.compute(), "loss": self.loss.compute()}

    def reset(self) -> None:
        for metric in (self.psnr, self.ssim, self.noisy_psnr, self.loss):
            metric.reset()


class Denoiser(L.LightningModule):
    """Trains ``net`` on (noisy, clean) pairs with ``loss``.

    The network works in [-1, 1] (it ends in Tanh); batches and :meth:`forward` use
    [0, 1] images, so the module maps its inputs to [-1, 1] and the output back.
    The loss is computed in the network's range, the same on train, val and test.

    Args:
        net: an autoencoder with ``forward(x)`` and ``encode(x)``.
        loss: a criterion ``loss(output, target)``, e.g. ``nn.L1Loss()``.
        optimizer: a partial taking the parameters (``torch.optim.Adam`` with ``_partial_: true``).
        scheduler: an optional partial taking the optimizer (see :func:`configure_optimizers`).
        crop: border pixels excluded from the metrics (2: the padding of 28 x 28 to 32 x 32).
        channels_last: keep the network's weights and inputs in channels-last memory order;
            the same numbers, computed faster by oneDNN on CPUs and by tensor cores on GPUs.
        cuda_graph: on a GPU, replay training steps from CUDA graphs (dae/cuda_graphs.py): the
            same kernels, launched at once instead of one by one from Python, which is what bounds
            a step of this small network on a GPU. Forward pass, loss and backward pass are one
            graph (:class:`~dae.cuda_graphs.StepGraphs`); the optimizer's update stays eager, with
            Adam's fused kernel unless the optimizer config sets ``fused``. Those steps run under
            Lightning's manual optimization (:meth:`_replayed_step`): its automatic loop would
            only wrap the zero-grad and backward pass the graph has done in closures and hooks,
            host time that on a GPU is a large share of a step. Gradient clipping
            (``trainer.gradient_clip_val``) and the schedule act as they do otherwise, and hooks
            that read gradients should use ``on_before_optimizer_step``: a replayed step calls no
            backward, so ``on_before_backward`` and ``on_after_backward`` do not run. Under
            float16's gradient scaler or ``accumulate_grad_batches`` only the network's passes
            are graphs, with automatic optimization. Ignored on the CPU, across several
            processes and under ``compile=true``. Only for networks whose forward pass is a pure
            function of its input (not the VAE: its loss reads values its forward pass leaves behind).
    """

    def __init__(
        self,
        net: nn.Module,
        loss: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None = None,
        crop: int = 2,
        channels_last: bool = False,
        cuda_graph: bool = False,
    ) -> None:
        super().__init__()
        # Checkpoints hold weights and plain values only (they load with weights_only=True);
        # the job folder's .hydra/config.yaml rebuilds the objects.
        self.save_hyperparameters(logger=False, ignore=["net", "loss", "optimizer", "scheduler"])
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.net, self.loss = net.to(memory_format=self.memory_format), loss
        self.optimizer, self.scheduler = optimizer, scheduler
        self.cuda_graph = cuda_graph
        self._graphs: dict[tuple, nn.Module] = {}  # graphed passes; a plain dict: not submodules, not in checkpoints
        self.step_graphs: StepGraphs | None = None  # set by prepare_steps where they apply
        self.val_quality = ImageQuality(crop)
        self.test_quality = ImageQuality(crop)

    def _to_net(self, images: torch.Tensor) -> torch.Tensor:
        """[0, 1] images to the network's range and memory order."""
        return (images * 2 - 1).contiguous(memory_format=self.memory_format)

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        """Denoise [0, 1] images; returns [0, 1] images."""
        return self.net(self._to_net(noisy)).add(1).div(2)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Latent vectors of [0, 1] images."""
        return self.net.encode(self._to_net(images))

    def _step(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        noisy, clean, _ = batch
        x = self._to_net(noisy)
        output = self._graphed(x) if self._graphs_apply(x) else self.net(x)
        return output, self.loss(output, clean * 2 - 1)

    def loss_of(self, noisy: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
        """The training loss of a batch of [0, 1] images through the eager network: what
        :class:`~dae.cuda_graphs.StepGraphs` captures."""
        return self.loss(self.net(self._to_net(noisy)), clean * 2 - 1)

    def _graphs_apply(self, x: torch.Tensor) -> bool:
        """Whether the network's passes are graphs: only where StepGraphs do not serve; a step they leave
        eager (failed capture, too many shapes) stays wholly eager rather than try a second capture."""
        return self.cuda_graph and self.step_graphs is None and self.training and x.is_cuda and torch.is_grad_enabled() and not _distributed()

    def _graphed(self, x: torch.Tensor) -> torch.Tensor:
        """The network on a training batch, replayed from the CUDA graphs captured for its shape."""
        key = (tuple(x.shape), x.dtype, x.device, torch.is_autocast_enabled("cuda"), torch.get_autocast_dtype("cuda"))
        if key not in self._graphs:
            if len(self._graphs) >= MAX_GRAPHS:
                return self.net(x)
            graphed = graph_passes(self.net, x)
            if graphed is None:
                self.cuda_graph = False
                return self.net(x)
            self._graphs[key] = graphed
        return self._graphs[key](x)

    def step_graphs_apply(self, device: torch.device, scaler: bool = False, accumulate: int = 1) -> bool:
        """Whether training steps on ``device`` can replay forward, loss and backward from
        :class:`~dae.cuda_graphs.StepGraphs`: ``cuda_graph`` on, one CUDA device, no gradient scaler,
        no accumulation, and a network without extra loss terms."""
        return (
            self.cuda_graph and device.type == "cuda" and not _distributed() and not scaler and accumulate == 1
            and getattr(self.net, "regularisation", None) is None
        )

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        if self.step_graphs is not None:  # under manual optimization: see prepare_steps
            return self._replayed_step(batch, batch_idx)
        _, loss = self._step(batch)
        regularisation = getattr(self.net, "regularisation", None)  # e.g. the VAE's KL term
        if regularisation is not None:
            terms = regularisation(self.global_step)
            self.log("train/reconstruction", loss, on_step=False, on_epoch=True, sync_dist=True)
            self.log("train/kl", terms["kl"], on_step=False, on_epoch=True, sync_dist=True)
            loss = loss + terms["weighted"]
        self._log_train_loss(loss, len(batch[0]), batch_idx)
        return loss

    def _replayed_step(self, batch, batch_idx: int) -> torch.Tensor:
        """A training step under manual optimization, where :attr:`step_graphs` serve: forward pass,
        loss and backward pass replayed from the batch shape's graph (or run eagerly where it has
        none), gradient clipping as configured, the optimizer's update, and the schedule's step."""
        noisy, clean, _ = batch
        optimizer = self.optimizers()
        loss = self.step_graphs.replay(noisy, clean)  # leaves the gradients in .grad
        if loss is None:  # no graph for this shape: the same step, eagerly
            optimizer.zero_grad()
            _, loss = self._step(batch)
            self.manual_backward(loss)
        trainer = self.trainer
        if trainer.gradient_clip_val:
            self.configure_gradient_clipping(optimizer, trainer.gradient_clip_val, trainer.gradient_clip_algorithm)
        self._log_train_loss(loss, len(noisy), batch_idx)  # before the update, as in automatic optimization: the same global_step
        optimizer.step()
        self._step_schedules("step", batch_idx + 1)
        return loss

    def _step_schedules(self, interval: str, count: int) -> None:
        """Under manual optimization, the schedules Lightning steps by itself otherwise: those of
        ``interval`` ("step" or "epoch") whose frequency divides ``count`` (batches or epochs done)."""
        for config in self.trainer.lr_scheduler_configs:
            if config.interval == interval and count % config.frequency == 0:
                config.scheduler.step()

    def on_train_epoch_start(self) -> None:
        self.train_loss_sum, self.train_loss_count = torch.zeros((), device=self.device), 0

    def on_train_epoch_end(self) -> None:
        if self.step_graphs is not None:
            self._step_schedules("epoch", self.current_epoch + 1)

    def _log_train_loss(self, loss: torch.Tensor, n: int, batch_idx: int) -> None:
        """``train/loss_step`` on the steps the logger writes (every ``trainer.log_every_n_steps``), and
        ``train/loss_epoch``, the epoch's mean over images, once, at its last batch. Each ``self.log``
        call costs a fraction of a millisecond of Python, which on a GPU is as much as the network's
        own step (experiments/gpu). The step value is this process's, logged as a host copy: Lightning
        turns the progress bar's values into numbers after every step, and a device tensor there would
        make the host wait for the GPU at every step rather than once per logged step. The epoch mean
        is reduced across processes once, at the epoch's end."""
        self.train_loss_sum.add_(loss.detach().float(), alpha=n)
        self.train_loss_count += n
        every = self.trainer.log_every_n_steps
        if every and (self.global_step + 1) % every == 0:  # as Lightning decides when to write step values
            self.log("train/loss_step", loss.detach().cpu(), on_step=True, on_epoch=False, prog_bar=True, batch_size=n)
        if batch_idx + 1 == self.trainer.num_training_batches:
            self.log("train/loss_epoch", self.train_loss_sum / self.train_loss_count, on_step=False, on_epoch=True, sync_dist=True, batch_size=self.train_loss_count)

    def validation_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, self.val_quality)

    def test_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, self.test_quality)

    def _evaluate(self, batch, quality: ImageQuality) -> None:
        output, loss = self._step(batch)
        noisy, clean, _ = batch
        quality.update(noisy, output.add(1).div(2).clamp(0, 1), clean, loss)

    def _log_quality(self, stage: str, quality: ImageQuality) -> dict[str, torch.Tensor]:
        values = quality.compute()  # torchmetrics reduces across processes: every rank logs the same value
        quality.reset()
        for name, value in values.items():
            self.log(f"{stage}/{name}", value, prog_bar=name == "psnr", sync_dist=True)  # the same on every rank: no change
        return values

    def on_validation_epoch_end(self) -> None:
        values = self._log_quality("val", self.val_quality)
        self.log_dict({"hp/val_psnr": values["psnr"], "hp/val_ssim": values["ssim"]}, sync_dist=True)

    def on_test_epoch_end(self) -> None:
        values = self._log_quality("test", self.test_quality)
        self.log("hp/test_psnr", values["psnr"], sync_dist=True)

    def prepare_steps(self, device: torch.device, scaler: bool = False, accumulate: int = 1) -> Callable[..., torch.optim.Optimizer]:
        """Set up the training steps on ``device``: :attr:`step_graphs` where they apply (else None), with
        manual optimization, and the optimizer to build, with Adam's fused kernel where the graphs
        leave only the update eager."""
        graphs = self.step_graphs_apply(device, scaler, accumulate)
        self.step_graphs = StepGraphs(self) if graphs else None
        self.automatic_optimization = not graphs
        return fused_on_gpu(self.optimizer) if graphs else self.optimizer

    def configure_optimizers(self):
        trainer = self.trainer
        scaler = getattr(trainer.precision_plugin, "scaler", None) is not None
        optimizer = self.prepare_steps(self.device, scaler, trainer.accumulate_grad_batches)
        return configure_optimizers(self, optimizer, self.scheduler)


def fused_on_gpu(optimizer: Callable[..., torch.optim.Optimizer]) -> Callable[..., torch.optim.Optimizer]:
    """The optimizer with its fused CUDA kernel (one launch for all weights; Adam, AdamW, SGD), unless
    it has none or its config chose: the update is what a CUDA-graph step leaves eager."""
    if "fused" not in inspect.signature(getattr(optimizer, "func", optimizer)).parameters or "fused" in getattr(optimizer, "keywords", {}):
        return optimizer
    return functools.partial(optimizer, fused=True)


def _distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1


def configure_optimizers(module: L.LightningModule, optimizer, scheduler):
    """Optimizer and optional schedule for Lightning. A schedule that takes ``total_steps``
    (one-cycle) gets the run's number of steps and is stepped per batch; others per epoch."""
    optimizer = optimizer(params=module.parameters())
    if not scheduler:
        return optimizer
    if "total_steps" in inspect.signature(scheduler.func).parameters:
        schedule = scheduler(optimizer=optimizer, total_steps=module.trainer.estimated_stepping_batches)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler(optimizer=optimizer), "interval": "epoch"}}
