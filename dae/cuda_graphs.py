"""CUDA graphs for the training step (``model.cuda_graph``, dae/denoiser.py).

A training step of the design's autoencoder is a few hundred small kernels. Launched one by one
from Python, the launches, not the arithmetic, bound a step on a GPU (experiments/gpu). A CUDA
graph records the kernels once and replays them with one launch: the same kernels on the same
memory, so the same numbers, up to the order of floating-point sums.

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

import logging
from collections.abc import Callable

import torch
from torch import nn

log = logging.getLogger(__name__)

MAX_GRAPHS = 4  # batch shapes captured per run: the full batch and the epoch's last, shorter one
WARMUP_STEPS = 3  # eager steps on a side stream before a capture, as torch.cuda.make_graphed_callables does


def _autocast_as_now() -> torch.autocast:
    """Autocast as the caller runs it, with its weight cache off, as capture requires."""
    return torch.autocast("cuda", dtype=torch.get_autocast_dtype("cuda"), enabled=torch.is_autocast_enabled("cuda"), cache_enabled=False)


class StepGraphs:
    """The forward pass, loss and backward pass of ``module`` (a :class:`~dae.denoiser.Denoiser`) on a
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
        loss = self.module.loss_of(noisy, clean)
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
            log.info("model.cuda_graph: captured the training step's forward, loss and backward for batches of shape %s", tuple(noisy.shape))
        except Exception as error:  # noqa: BLE001 - a failed capture leaves eager steps, which always work
            torch.cuda.synchronize()
            _restore(buffers, saved)
            log.warning("model.cuda_graph: capture of the training step failed (%s: %s); training goes on without CUDA graphs", type(error).__name__, error)
            self.enabled, replay = False, None
        for p, grad in zip(self.params, kept_grads):
            p.grad = grad
        return replay


class _Replay:
    """A captured step: copy the batch into the graph's inputs, replay, point ``.grad`` at the graph's
    gradients, return the graph's loss."""

    def __init__(self, graph: torch.cuda.CUDAGraph, noisy: torch.Tensor, clean: torch.Tensor, loss: torch.Tensor, params: list[nn.Parameter]) -> None:
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
        log.info("model.cuda_graph: captured the network's training passes for batches of shape %s", tuple(x.shape))
    except Exception as error:  # noqa: BLE001 - any failure to capture leaves the eager network, which always works
        log.warning("model.cuda_graph: capture failed (%s: %s); training goes on without CUDA graphs", type(error).__name__, error)
        graphed = None
    _restore(buffers, saved)
    return graphed
