"""Inference speed: the same network run by eager PyTorch, TorchScript and onnxruntime on the same batches
of noisy test digits, in images per second (``python -m dae.bench bench.modes=[inference]``).

The network is the training config's (fresh weights: speed does not depend on their values), with its
pre- and post-processing, in float32, exported as ``python -m dae.export`` exports it.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch

from dae.exporting import WithLatent, export_onnx, export_torchscript
from dae.pretrained import DigitDenoiser

RUNTIMES = ("eager", "torchscript", "onnxruntime")


def runners(model: DigitDenoiser, digits: torch.Tensor, folder: Path) -> dict:
    """One callable per runtime, each mapping a batch of digits to its denoised batch (latents included, as exported)."""
    export_torchscript(model, folder / "model.torchscript.pt", digits, {})
    export_onnx(model, folder / "model.onnx", digits, {})
    import onnxruntime as ort

    scripted = torch.jit.load(str(folder / "model.torchscript.pt"))
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    both = WithLatent(model)
    return {
        "eager": lambda x: both(x),
        "torchscript": lambda x: scripted(x),
        "onnxruntime": lambda x: session.run(None, {"digits": x.numpy()}),
    }


def images_per_second(run, batch: torch.Tensor, repeats: int, min_seconds: float = 0.5) -> list[float]:
    """``repeats`` timings of ``run`` on ``batch``, each over as many calls as take ``min_seconds``."""
    with torch.no_grad():
        for _ in range(3):  # warm-up: first-call allocations, kernel choices, TorchScript's profiling runs
            run(batch)
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < min_seconds / 4:
            run(batch)
            calls += 1
        per_repeat = max(1, int(calls * 4))
        rates = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(per_repeat):
                run(batch)
            rates.append(per_repeat * len(batch) / (time.perf_counter() - start))
    return rates


def inference(model: DigitDenoiser, digits: torch.Tensor, batch_sizes: list[int], repeats: int, folder: Path) -> dict:
    """Images per second of each runtime at each batch size (the median of ``repeats``), on the CPU."""
    model = model.float().cpu().eval()
    run = runners(model, digits[:2], folder)
    table: dict[str, dict[str, float]] = {}
    for name in RUNTIMES:
        table[name] = {str(size): statistics.median(images_per_second(run[name], digits[:size], repeats)) for size in batch_sizes}
    return table
