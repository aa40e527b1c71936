"""Running a trained network over many images: eval mode, no gradients, in batches."""

from __future__ import annotations

from contextlib import contextmanager, nullcontext

import lightning as L
import torch
from tqdm.auto import tqdm

# Batch sizes for running a network over many images (validation and test, classifier M's report, the
# probe's encoding) where none is configured (data.eval_batch_size: null): on a CPU a batch of 1,000 runs
# slower per image than one of 256 (experiments/speed); on a GPU each batch costs the host a few
# milliseconds of kernel launches whatever its size, so fewer, larger batches are faster.
EVAL_BATCH_SIZE = {"cpu": 256, "cuda": 1000}


def eval_batch_size(configured: int | None, device: torch.device) -> int:
    """The evaluation batch size on ``device``: ``configured``, or by device if it is None."""
    return configured if configured is not None else EVAL_BATCH_SIZE.get(device.type, EVAL_BATCH_SIZE["cpu"])


@contextmanager
def evaluating(module: torch.nn.Module):
    """Eval mode and no gradients for the block; the previous mode is restored after."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            yield module
    finally:
        module.train(was_training)


def in_batches(
    fn, images: torch.Tensor, device: torch.device | str, batch_size: int | None = None, desc: str | None = None
) -> torch.Tensor:
    """``fn`` applied to ``images`` in batches on ``device`` (``batch_size`` None: by device, see
    :func:`eval_batch_size`); the results concatenated on the CPU. Call it inside :func:`evaluating`."""
    size = eval_batch_size(batch_size, torch.device(device))
    starts = range(0, len(images), size)
    return torch.cat(
        [
            fn(images[i : i + size].to(device, non_blocking=True)).float().cpu()
            for i in tqdm(starts, desc=desc, leave=False, disable=desc is None)
        ]
    )


def autocast(precision: str | None, device: torch.device | str):
    """The autocast under which Lightning runs a model at ``precision`` (``bf16-mixed``,
    ``16-mixed``); for any other precision, none."""
    precision = str(precision or "")
    dtypes = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}
    if precision not in dtypes:
        return nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtypes[precision])


def denoise(module: L.LightningModule, images: torch.Tensor, batch_size: int | None = None, precision: str | None = None) -> torch.Tensor:
    """The module's outputs for [0, 1] images, in batches on its device, back on the CPU.

    ``precision`` is the trainer's (``bf16-mixed``...): a model is judged as it was trained and
    tested, so a figure made here matches the run's own test metrics."""
    with evaluating(module), autocast(precision, module.device):
        return in_batches(module, images, module.device, batch_size).clamp_(0, 1)
