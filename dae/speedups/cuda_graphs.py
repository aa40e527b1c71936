"""CUDA graphs for the training step on one GPU: ``trainer=gpu`` trains a :class:`GraphedDenoiser`.

A training step of the original study's autoencoder is a few hundred small kernels. Launched one by
one from Python, the launches, not the arithmetic, bound a step on a GPU (experiments/speed). A CUDA
graph records the kernels once and replays them with one launch: the same kernels on the same
memory, so the same numbers, up to the order of floating-point sums.

- :class:`GraphedDenoiser`: the :class:`~dae.denoiser.Denoiser` with its training steps replayed
  from :class:`StepGraphs` where they apply, under Lightning's manual optimization.
- :class:`StepGraphs`: forward pass, loss and backward pass as one graph per batch shape; the
  optimizer's update stays eager (one launch with Adam's fused kernel). The update is left out
  because torch's Adam reads beta1, which the one-cycle schedule changes every step, as a host
  number: a captured update would keep the value it was captured with.
- :func:`graph_passes`: the network's forward and backward passes only, the loss left eager; for
  what StepGraphs cannot serve: float16's gradient scaler, gradient accumulation.

Both capture at the first step of each batch shape (the full batch, the epoch's last shorter one),
at most :data:`MAX_GRAPHS`, and put back what the capture's warm-up steps changed, so a run's
numbers do not depend on whether or when it captured. If a capture fails, training goes on eagerly.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable

import torch
from torch import nn

from dae.denoiser import Denoiser
from dae.optim import OptimizerFactory, configure_optimizers

log = logging.getLogger(__name__)

MAX_GRAPHS = 4  # batch shapes captured per run: the full batch and the epoch's last, shorter one
WARMUP_STEPS = 3  # eager steps on a side stream before a capture, as torch.cuda.make_graphed_callables does


def _autocast_as_now() -> torch.autocast:
    """Autocast as the caller runs it, with its weight cache off, as capture requires."""
    return torch.autocast("cuda", dtype=torch.get_autocast_dtype("cuda"), enabled=torch.is_autocast_enabled("cuda"), cache_enabled=False)


class StepGraphs:
    """The forward pass, loss and backward pass of ``module`` (a :class:`GraphedDenoiser`) on a
    batch, replayed from one CUDA graph per batch shape; the optimizer's update stays outside, so any
    optimizer, schedule, gradient clipping or hook that reads gradients works as it does eagerly.

    :meth:`replay` leaves the batch's gradients in the parameters' ``.grad`` (overwritten, not added
    to) and returns the loss; it returns None where it has no graph (a failed capture, or more than
    :data:`MAX_GRAPHS` shapes), and the caller then steps eagerly. Call it inside the autocast the run uses.
    """

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.params = [p for p in module.parameters() if p.requires_grad]
        self.graphs: dict[tuple, _Replay] = {}
        self.enabled = True  # False after a failed capture: eager from then on

    def replay(self, noisy: torch.Tensor, clean: torch.Tensor) -> torch.Tensor | None:
        key = (tuple(noisy.shape), tuple(clean.shape), noisy.dtype, torch.is_autocast_enabled("cuda"), torch.get_autocast_dtype("cuda"))
        replay = self.graphs.get(key)
        if replay is None and self.enabled and len(self.graphs) < MAX_GRAPHS:
            replay = self._capture(noisy, clean)
            if replay is not None:
                self.graphs[key] = replay
        return None if replay is None else replay(noisy, clean)

    def _loss_and_gradients(self, noisy: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
        for p in self.params:
            p.grad = None  # backward then writes fresh gradients rather than adding to old ones
        _, loss = self.module.model_step((noisy, clean, None))
        loss.backward()
        return loss.detach()

    def _capture(self, noisy: torch.Tensor, clean: torch.Tensor) -> _Replay | None:
        buffers = list(self.module.buffers())
        saved = [b.detach().clone() for b in buffers]
        kept_grads = [p.grad for p in self.params]
        static_noisy, static_clean = noisy.clone(), clean.clone()
        try:
            with _autocast_as_now():
                side = torch.cuda.Stream()
                side.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(side):  # warm-up: lazy initialisations and kernel choices happen outside the capture
                    for _ in range(WARMUP_STEPS):
                        self._loss_and_gradients(static_noisy, static_clean)
                torch.cuda.current_stream().wait_stream(side)
                _restore(buffers, saved)  # the warm-up passes updated BatchNorm's running statistics: undone
                graph = torch.cuda.CUDAGraph()
                # thread_local: only this thread's CUDA calls are restricted while capturing. Under the
                # default (global) mode, a DataLoader's pin-memory thread allocating pinned memory during the
                # capture breaks it, and the error then kills that thread and the run with it.
                with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                    static_loss = self._loss_and_gradients(static_noisy, static_clean)
            replay = _Replay(graph, static_noisy, static_clean, static_loss, self.params)
            log.info("CUDA graphs: captured the training step's forward, loss and backward for batches of shape %s", tuple(noisy.shape))
        except Exception as error:  # noqa: BLE001 - a failed capture leaves eager steps, which always work
            torch.cuda.synchronize()
            _restore(buffers, saved)
            log.warning(
                "CUDA graphs: capture of the training step failed (%s: %s); training goes on without CUDA graphs",
                type(error).__name__,
                error,
            )
            self.enabled, replay = False, None
        for p, grad in zip(self.params, kept_grads):
            p.grad = grad
        return replay


class _Replay:
    """A captured step: copy the batch into the graph's inputs, replay, point ``.grad`` at the graph's
    gradients, return the graph's loss."""

    def __init__(
        self, graph: torch.cuda.CUDAGraph, noisy: torch.Tensor, clean: torch.Tensor, loss: torch.Tensor, params: list[nn.Parameter]
    ) -> None:
        self.graph, self.noisy, self.clean, self.loss = graph, noisy, clean, loss
        self.params, self.grads = params, [p.grad for p in params]  # held here: the graph writes into them

    def __call__(self, noisy: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
        self.noisy.copy_(noisy)
        self.clean.copy_(clean)
        self.graph.replay()
        for p, grad in zip(self.params, self.grads):  # each batch shape's graph has its own gradient tensors
            p.grad = grad
        return self.loss  # overwritten by the next replay: callers use it before then (Lightning clones it)


def _restore(tensors: list[torch.Tensor], saved: list[torch.Tensor]) -> None:
    with torch.no_grad():
        for tensor, value in zip(tensors, saved):
            tensor.copy_(value)


class _Forward(nn.Module):
    """``net``'s forward pass as a module of its own, for ``make_graphed_callables`` to replace its
    ``forward``: ``net`` itself keeps its eager forward for evaluation and other batch shapes."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def graph_passes(net: nn.Module, x: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """``net``'s training forward and backward passes on batches like ``x`` as CUDA graphs
    (``torch.cuda.make_graphed_callables``), captured under autocast as it runs now. The capture's
    warm-up passes update BatchNorm's running statistics; they are put back. None if capture fails."""
    buffers = list(net.buffers())
    saved = [b.detach().clone() for b in buffers]
    try:
        with _autocast_as_now():
            graphed = torch.cuda.make_graphed_callables(_Forward(net), (x.detach().clone(),))
        log.info("CUDA graphs: captured the network's training passes for batches of shape %s", tuple(x.shape))
    except Exception as error:  # noqa: BLE001 - any failure to capture leaves the eager network, which always works
        log.warning("CUDA graphs: capture failed (%s: %s); training goes on without CUDA graphs", type(error).__name__, error)
        graphed = None
    _restore(buffers, saved)
    return graphed


class GraphedDenoiser(Denoiser):
    """The :class:`~dae.denoiser.Denoiser`, with each training step on one GPU replayed from
    :class:`StepGraphs` (forward pass, loss and backward pass in one graph per batch shape) and the
    update done by Adam's fused kernel, unless the optimizer config sets ``fused``. ``trainer=gpu``
    trains the model as this class (conf/trainer/gpu.yaml).

    Those steps run under Lightning's manual optimization (:meth:`_replayed_step`): its automatic loop
    would only wrap the zero-grad and backward pass the graph has done in closures and hooks, host
    time that on a GPU is a large share of a step. Gradient clipping (``trainer.gradient_clip_val``)
    and the schedule act as they do otherwise; hooks that read gradients should use
    ``on_before_optimizer_step``, since a replayed step calls no backward. Under float16's gradient
    scaler or ``accumulate_grad_batches`` only the network's passes are graphs, with automatic
    optimization. Steps are eager, as the Denoiser's, on the CPU, across several processes, with a
    compiled network (``compile=true``), and in a subclass that overrides :meth:`training_step` or
    :meth:`model_step` (the graph would replay the parent's loss, not the subclass's).

    Args: those of :class:`~dae.denoiser.Denoiser`, and ``cuda_graph`` (False: never capture).
    """

    def __init__(self, *args, cuda_graph: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.cuda_graph = cuda_graph
        self._graphs: dict[tuple, nn.Module] = {}  # graphed passes; a plain dict: not submodules, not in checkpoints
        self.step_graphs: StepGraphs | None = None  # set by prepare_steps where they apply

    def model_step(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        noisy, clean, _ = batch
        x = self.to_net(noisy)
        output = self._graphed(x) if self._graphs_apply(x) else self.net(x)
        return output, self.loss(output, clean * 2 - 1)

    def _graphs_apply(self, x: torch.Tensor) -> bool:
        """Whether the network's passes are graphs: only where StepGraphs do not serve; a step they leave
        eager (failed capture, too many shapes) stays wholly eager rather than try a second capture."""
        return (
            self.cuda_graph and self.step_graphs is None and self.training and x.is_cuda and torch.is_grad_enabled() and self._plain_steps()
        )

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

    def _plain_steps(self) -> bool:
        """One process, an eager network, and this class's own training step and loss."""
        compiled = getattr(self.net, "_compiled_call_impl", None) is not None  # nn.Module.compile()
        overridden = (
            type(self).training_step is not GraphedDenoiser.training_step or type(self).model_step is not GraphedDenoiser.model_step
        )
        return not (_distributed() or compiled or overridden)

    def step_graphs_apply(self, device: torch.device, scaler: bool = False, accumulate: int = 1) -> bool:
        """Whether training steps on ``device`` can replay forward, loss and backward from
        :class:`StepGraphs`: ``cuda_graph`` on, one CUDA device, no gradient scaler, no accumulation."""
        return self.cuda_graph and device.type == "cuda" and not scaler and accumulate == 1 and self._plain_steps()

    def prepare_steps(self, device: torch.device, scaler: bool = False, accumulate: int = 1) -> OptimizerFactory:
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

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        if self.step_graphs is not None:  # under manual optimization: see prepare_steps
            return self._replayed_step(batch, batch_idx)
        _, loss = self.model_step(batch)
        self.log_train_loss(loss, len(batch[0]), batch_idx)
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
            _, loss = self.model_step(batch)
            self.manual_backward(loss)
        trainer = self.trainer
        if trainer.gradient_clip_val:
            self.configure_gradient_clipping(optimizer, trainer.gradient_clip_val, trainer.gradient_clip_algorithm)
        self.log_train_loss(loss, len(noisy), batch_idx)  # before the update, as in automatic optimization: the same global_step
        optimizer.step()
        self._step_schedules("step", batch_idx + 1)
        return loss

    def _step_schedules(self, interval: str, count: int) -> None:
        """Under manual optimization, the schedules Lightning steps by itself otherwise: those of
        ``interval`` ("step" or "epoch") whose frequency divides ``count`` (batches or epochs done)."""
        for config in self.trainer.lr_scheduler_configs:
            if config.interval == interval and count % config.frequency == 0:
                config.scheduler.step()

    def on_train_epoch_end(self) -> None:
        if self.step_graphs is not None:
            self._step_schedules("epoch", self.current_epoch + 1)


def fused_on_gpu(optimizer: OptimizerFactory) -> OptimizerFactory:
    """The optimizer with its fused CUDA kernel (one launch for all weights; Adam, AdamW, SGD), unless
    it has none or its config chose: the update is what a CUDA-graph step leaves eager."""
    if "fused" not in inspect.signature(getattr(optimizer, "func", optimizer)).parameters or "fused" in getattr(optimizer, "keywords", {}):
        return optimizer
    return functools.partial(optimizer, fused=True)


def _distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1
