"""Training speed: ``python -m dae.bench [overrides]`` (see conf/bench.yaml).

Three ways of training the same model (the training config's, with the same batch size,
device and precision) are timed in one process, in training samples per second:

- ``bare``: the train step alone (forward, loss, backward, optimizer step) on one batch of
  real noisy images already on the device: the compute bound;
- ``project``: ``Trainer.fit`` with the data module, on-device noise, metrics, logging, the
  checkpoint, the figure callbacks and the progress bar, as ``python -m dae.train`` runs it;
- ``tutorial``: torchvision's ``MNIST`` dataset with per-sample transforms (pad, to-tensor,
  per-sample noise, normalise) through a ``DataLoader`` with worker processes, and a plain loop;
- ``inference`` (``bench.modes=[inference]``): images per second of the same network, with fresh weights,
  in eager PyTorch, TorchScript and onnxruntime on batches of ``bench.inference_batches`` (dae/inference_speed.py).

After a common warm-up, each is warmed up once more, then timed ``bench.repeats`` times over ``bench.steps`` steps; the
median is reported. For ``project``, one repetition is one epoch (of ``bench.project_steps`` batches, or
whole), with as many validation images per training image as a full epoch has. Benched together,
``bare`` and ``project`` take turns: each project epoch follows a bare run of ``bench.steps`` steps, so
that both meet the machine in the same state (a shared CPU's speed drifts by several percent within
a minute), and ``ratio_vs_bare`` is the median of the ratios of these pairs.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import platform
import statistics
import sys
import time
from pathlib import Path

import hydra
import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from torch.utils.data import DataLoader, Dataset

from dae.cli import one_line_errors, prepare_argv
from dae.data import idx
from dae.errors import ConfigError
from dae.files import write_json
from dae.inference import eval_batch_size
from dae.speedups.allocator import keep_freed_memory
from dae.training import build, build_model
from dae.training_speed import Stepper, autocast_dtype, device_of, sync

log = logging.getLogger(__name__)

MODES = ("bare", "project", "tutorial", "inference")  # inference: dae/inference_speed.py


def rate_of(run, samples: int, device: torch.device) -> float:
    """Samples per second of one call of ``run()``, which processes ``samples``."""
    sync(device)
    start = time.perf_counter()
    run()
    sync(device)
    return samples / (time.perf_counter() - start)


def timed(run, samples: int, repeats: int, device: torch.device) -> list[float]:
    """Samples per second of ``run()``, once untimed (allocations, oneDNN / cuDNN choices, worker
    start), then ``repeats`` times."""
    rate_of(run, samples, device)
    return [rate_of(run, samples, device) for _ in range(repeats)]


def bare_steps(cfg: DictConfig, datamodule, device: torch.device, steps: int):
    """``steps`` train steps alone, on one pre-built batch of real noisy images on the device: a
    function that runs them, and the number of samples it processes."""
    step = Stepper(build_model(cfg), device, autocast_dtype(cfg))
    clean = datamodule.images("train").clean[: datamodule.batch_size].to(device)
    noisy = datamodule.noise(clean, torch.Generator(device=device).manual_seed(0))

    def run() -> None:
        for _ in range(steps):
            step(noisy, clean)

    return run, steps * len(clean)


def bare(cfg: DictConfig, datamodule, device: torch.device, steps: int, repeats: int) -> list[float]:
    """The train step alone, timed ``repeats`` times after an untimed run."""
    return timed(*bare_steps(cfg, datamodule, device, steps), repeats, device)


class BareBeforeEpoch(L.Callback):
    """Times a bare run (``run`` processes ``samples``) at the start of each epoch, before
    :class:`EpochTimer` starts its clock: the bare half of each pair."""

    def __init__(self, run, samples: int, device: torch.device) -> None:
        self.run, self.samples, self.device, self.rates = run, samples, device, []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.rates.append(rate_of(self.run, self.samples, self.device))


class EpochTimer(L.Callback):
    """Training samples per second of each epoch, from its start to its end (validation and
    end-of-epoch callbacks included)."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.rates, self.samples, self.start = device, [], 0, 0.0

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        sync(self.device)
        self.samples, self.start = 0, time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.samples += len(batch[0])

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        sync(self.device)
        self.rates.append(self.samples / (time.perf_counter() - self.start))


def project(cfg: DictConfig, steps: int | None, repeats: int, out_dir: Path, bare_run=None) -> tuple[list[float], list[float]]:
    """``Trainer.fit`` as ``dae.train`` runs it, for ``repeats`` timed epochs after a warm-up one.
    ``steps=None`` keeps whole epochs, so per-epoch work (validation, figures, checkpoints) weighs
    what it weighs in a real run; a number shortens them, with validation shortened alike.
    ``bare_run`` (from :func:`bare_steps`) is timed before each epoch. Returns the epochs' rates and
    those bare runs' rates (empty without ``bare_run``)."""
    cfg = copy.deepcopy(cfg)  # the other modes keep the config as given
    with open_dict(cfg):
        cfg.trainer.max_epochs = repeats + 1
        cfg.paths.output_dir = str(out_dir / "project")
        if steps is not None:
            train_batches = math.ceil(cfg.bench.n_train / cfg.data.batch_size)
            val_batches = math.ceil(cfg.data.val_size / eval_batch_size(cfg.data.eval_batch_size, device_of(cfg)))
            cfg.trainer.limit_train_batches = steps
            cfg.trainer.limit_val_batches = max(1, round(val_batches * min(1.0, steps / train_batches)))
    datamodule, model, trainer = build(cfg)
    timer = EpochTimer(device_of(cfg))
    paired = BareBeforeEpoch(*bare_run, device_of(cfg)) if bare_run else None
    trainer.callbacks += [paired, timer] if paired else [timer]  # the bare run before the epoch's clock starts
    trainer.fit(model, datamodule=datamodule)
    return timer.rates[1:], paired.rates[1:] if paired else []  # epoch 0 warms up (and follows the sanity check)


class NoisyMNIST(Dataset):
    """How tutorials feed a denoiser: torchvision's MNIST, one PIL image at a time through
    ``Pad(2)``, ``ToTensor()``, a noise transform and ``Normalize``; returns ``(noisy, clean)``."""

    def __init__(self, root: Path, noise, pad: int) -> None:
        from torchvision import datasets, transforms

        self.mnist = datasets.MNIST(
            str(root), train=True, download=False, transform=transforms.Compose([transforms.Pad(pad), transforms.ToTensor()])
        )
        self.noise, self.normalize = noise, transforms.Normalize((0.5,), (0.5,))

    def __len__(self) -> int:
        return len(self.mnist)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        clean, _ = self.mnist[i]
        noisy = self.noise(clean[None], torch.default_generator)[0]
        return self.normalize(noisy), self.normalize(clean)


def torchvision_layout(datamodule, root: Path) -> Path:
    """The verified IDX files, written where (and as) torchvision's ``MNIST`` looks for them."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for role, spec in datamodule.source.files.items():  # the data config's names are MNIST's own
        (raw / spec["file"]).write_bytes(idx.encode(datamodule.source.read(role)))
    return root


def tutorial(cfg: DictConfig, datamodule, device: torch.device, steps: int, repeats: int, out_dir: Path) -> list[float]:
    """A plain loop over a ``DataLoader`` of per-sample transforms, with worker processes."""
    root = torchvision_layout(datamodule, out_dir / "torchvision")
    pad = (cfg.data.image_size - datamodule.source.read("train_images").shape[-1]) // 2
    loader = DataLoader(
        NoisyMNIST(root, datamodule.noise, pad),
        batch_size=cfg.data.batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=cfg.bench.tutorial_workers,
        pin_memory=device.type == "cuda",
        persistent_workers=cfg.bench.tutorial_workers > 0,
    )
    step = Stepper(build_model(cfg), device, autocast_dtype(cfg))
    batches = iter(())

    def to_unit_range(x: torch.Tensor) -> torch.Tensor:  # the module maps [0, 1] to [-1, 1] itself
        return x.to(device, non_blocking=True).add(1).div(2)

    def run() -> None:
        nonlocal batches
        for _ in range(steps):
            batch = next(batches, None)
            if batch is None:
                batches = iter(loader)
                batch = next(batches)
            step(to_unit_range(batch[0]), to_unit_range(batch[1]))

    return timed(run, steps * cfg.data.batch_size, repeats, device)


def hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def bench(cfg: DictConfig, out_dir: Path) -> dict:
    """Time the modes in ``cfg.bench.modes``; write ``bench.json`` into ``out_dir``; return it."""
    modes = list(cfg.bench.modes)
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise ConfigError(f"bench.modes={modes}: each must be one of {', '.join(MODES)}; e.g. bench.modes=[bare,project].")
    if cfg.bench.steps < 1 or cfg.bench.repeats < 1 or (cfg.bench.project_steps is not None and cfg.bench.project_steps < 1):
        raise ConfigError(
            f"bench.steps={cfg.bench.steps}, bench.project_steps={cfg.bench.project_steps} and bench.repeats={cfg.bench.repeats} must be at least 1 (project_steps: or null)."
        )
    device, _ = device_of(cfg), autocast_dtype(cfg)  # bad values fail here, before any work
    # The Trainer sets cuDNN's algorithm search from trainer.benchmark; the plain loops follow it too.
    torch.backends.cudnn.benchmark = bool(OmegaConf.select(cfg, "trainer.benchmark", default=None))
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed)
    datamodule = instantiate(cfg.data, noise=instantiate(cfg.noise))
    datamodule.prepare_data()
    datamodule.setup("fit")
    with open_dict(cfg):
        cfg.bench.n_train = len(datamodule.images("train").labels)
    steps, repeats = cfg.bench.steps, cfg.bench.repeats
    # A process's first seconds of training run slower (allocator, kernel choices, clocks):
    # whichever mode came first would pay for them, so an untimed bare run goes before all.
    training = [m for m in modes if m != "inference"]
    if training:
        bare(cfg, datamodule, device, cfg.bench.warmup_steps, 0)
    paired = "bare" in training and "project" in training  # then each project epoch follows a bare run
    runs: dict[str, list[float]] = {}
    for mode in training:
        if mode == "bare" and paired:
            continue  # timed with project
        if mode == "project":
            epoch = f"{cfg.bench.project_steps} steps" if cfg.bench.project_steps else "whole epochs"
            turns = f", in turns with bare runs of {steps} steps" if paired else ""
            log.info("bench: project, %d x %s of %d images%s", repeats, epoch, cfg.data.batch_size, turns)
        else:
            log.info("bench: %s, %d x %d steps of %d images", mode, repeats, steps, cfg.data.batch_size)
        if mode == "bare":
            runs[mode] = bare(cfg, datamodule, device, steps, repeats)
        elif mode == "project":
            bare_run = bare_steps(cfg, datamodule, device, steps) if paired else None
            runs[mode], bare_rates = project(cfg, cfg.bench.project_steps, repeats, out_dir, bare_run)
            if paired:
                runs["bare"] = bare_rates
        elif mode == "tutorial":
            runs[mode] = tutorial(cfg, datamodule, device, steps, repeats, out_dir)
    runs = {mode: runs[mode] for mode in training}
    rate = {mode: statistics.median(r) for mode, r in runs.items()}
    result = {
        "device": str(device),
        "hardware": hardware(device),
        "torch": torch.__version__,
        "precision": str(cfg.trainer.precision),
        "batch_size": cfg.data.batch_size,
        "channels_last": bool(OmegaConf.select(cfg, "model.channels_last", default=False)),
        "compile": bool(cfg.get("compile")),
        "steps": steps,
        "project_steps": cfg.bench.project_steps,
        "repeats": repeats,
        "samples_per_s": rate,
        "runs": runs,
    }
    if "inference" in modes:
        result["inference_images_per_s"] = inference_bench(cfg, datamodule, out_dir)
    if paired:
        result["ratio_vs_bare"] = statistics.median(p / b for p, b in zip(runs["project"], runs["bare"], strict=True))
    if "project" in rate and "tutorial" in rate:
        result["ratio_vs_tutorial"] = rate["project"] / rate["tutorial"]
    write_json(out_dir / "bench.json", result)
    return result


def inference_bench(cfg: DictConfig, datamodule, out_dir: Path) -> dict:
    """Images per second of the config's network in each inference runtime (:mod:`dae.inference_speed`)."""
    from dae.inference_speed import inference
    from dae.pretrained import DigitDenoiser

    model = DigitDenoiser.of(build_model(cfg), cfg.data.image_size)
    digits = model.digit_area(datamodule.images("test").noisy)
    sizes = [int(b) for b in cfg.bench.inference_batches]
    if not sizes or min(sizes) < 1 or max(sizes) > len(digits):
        raise ConfigError(f"bench.inference_batches={sizes}: each must be from 1 to {len(digits)} (the test images); e.g. [1,64,1000].")
    log.info("bench: inference, eager / torchscript / onnxruntime on batches of %s images", sizes)
    return inference(model, digits, sizes, cfg.bench.repeats, out_dir / "inference")


def table(result: dict) -> str:
    lines = []
    if result["samples_per_s"]:
        lines.append(f"{result['hardware']}, {result['precision']}, batch {result['batch_size']}")
        lines += [f"{'mode':<10}{'samples/s':>12}   runs", f"{'-' * 10}{'-' * 12}   {'-' * 24}"]
        for mode, rate in result["samples_per_s"].items():
            lines.append(f"{mode:<10}{rate:>12.0f}   " + " ".join(f"{r:.0f}" for r in result["runs"][mode]))
        lines.append(" ".join(f"{k}={result[k]:.3f}" for k in ("ratio_vs_bare", "ratio_vs_tutorial") if k in result))
    if "inference_images_per_s" in result:
        speeds = result["inference_images_per_s"]
        sizes = list(next(iter(speeds.values())))
        head = f"{result['hardware']}, inference of the config's network (fresh weights), float32, images/s:"
        lines += [head, f"{'runtime':<14}" + "".join(f"{'batch ' + s:>14}" for s in sizes)]
        lines += [f"{name:<14}" + "".join(f"{speeds[name][s]:>14.0f}" for s in sizes) for name in speeds]
    return "\n".join(lines)


@hydra.main(version_base="1.3", config_path="pkg://dae.conf", config_name="bench")
def main(cfg: DictConfig) -> dict:
    from hydra.core.hydra_config import HydraConfig

    keep_freed_memory()  # as dae.train does (dae/speedups/allocator.py)
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    with one_line_errors(out_dir):
        result = bench(cfg, out_dir)
    with contextlib.suppress(BrokenPipeError):
        print(table(result), flush=True)
    return result


if __name__ == "__main__":
    sys.argv = prepare_argv(sys.argv)
    main()
