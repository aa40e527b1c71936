"""Classifier M: trained once on clean digits, cached, and used to judge denoised images: train, cache,
predict, report.

Every run and sweep job loads the cached copy (``python -m dae.classifier`` trains or refreshes it); the
cache key is a hash of the classifier's config and of the dataset's checksums and split, so a change to
either trains a new one.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import logging
from collections.abc import Callable
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import lightning as L
import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from sklearn.metrics import classification_report
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from dae.data import DenoisingDataModule, IDXSource
from dae.data.datamodule import fixed_noise
from dae.data.training_images import TrainingImages, to_u8
from dae.errors import DataError, summary
from dae.files import check_folder, make_folder, write_folder
from dae.inference import evaluating, in_batches
from dae.noise import Identity, Noise
from dae.optim import configure_optimizers

log = logging.getLogger(__name__)


class ClassifierModule(L.LightningModule):
    """Trains ``net`` with cross-entropy on the clean images of (noisy, clean, label) batches."""

    def __init__(self, net: nn.Module, optimizer: Callable[..., torch.optim.Optimizer], lr: float) -> None:
        super().__init__()
        self.net, self.optimizer, self.lr = net, optimizer, lr
        self.val_acc = MulticlassAccuracy(num_classes=10, average="micro")

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        _, clean, labels = batch
        loss = nn.functional.cross_entropy(self.net(clean), labels)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        _, clean, labels = batch
        self.val_acc.update(self.net(clean), labels)
        self.log("val/acc", self.val_acc, prog_bar=True)

    def configure_optimizers(self):
        return configure_optimizers(self, partial(self.optimizer, lr=self.lr), partial(torch.optim.lr_scheduler.OneCycleLR, max_lr=self.lr))


def cache_key(cfg: DictConfig, source: IDXSource, val_size: int, split_seed: int, image_size: int, augment: Noise | None = None) -> str:
    """A hash of everything that defines the trained classifier."""
    identity = {
        "classifier": OmegaConf.to_container(cfg, resolve=True),
        "data": source.checksums(),
        "split": [val_size, split_seed, image_size],
    }
    if augment is not None:  # M trained with noisy copies: another classifier
        identity["augment"] = [type(augment).__name__, augment.params()]
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


@contextmanager
def _locked(path: Path):
    """An exclusive lock, so that parallel sweep jobs train the classifier once and the rest wait
    (saying so in one line)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("classifier M: waiting for another process that holds %s (it is training or loading M)", path)
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def predict(net: nn.Module, images: torch.Tensor, device: torch.device | str = "cpu", batch_size: int | None = None) -> np.ndarray:
    """Predicted labels for [0, 1] images, computed in batches on ``device``."""
    with evaluating(net):
        return in_batches(lambda x: net(x).argmax(1), images, device, batch_size).long().numpy()


def report(labels: np.ndarray, predicted: np.ndarray) -> tuple[dict, str]:
    """scikit-learn's classification report, as a dict and as text."""
    names = [str(d) for d in range(10)]
    kwargs = dict(labels=list(range(10)), target_names=names, digits=4, zero_division=0)
    return classification_report(labels, predicted, output_dict=True, **kwargs), classification_report(labels, predicted, **kwargs)


def clean_data(cfg: DictConfig, datamodule: DenoisingDataModule) -> DenoisingDataModule:
    """The dataset of ``datamodule`` (source, split, image size), without noise, in M's batches."""
    data = DenoisingDataModule(
        datamodule.source,
        Identity(),
        batch_size=cfg.batch_size,
        val_size=datamodule.val_size,
        split_seed=datamodule.split_seed,
        seed=cfg.seed,
        image_size=datamodule.image_size,
    )
    data.prepare_data()  # M may be trained before the run's own data module has fetched the files
    data.setup()
    return data


def fit(cfg: DictConfig, data: DenoisingDataModule, accelerator: str = "auto") -> nn.Module:
    """A classifier of config ``cfg`` trained on the clean training images of ``data``; returned in
    eval mode, on the CPU."""
    # Seeded before its weights are drawn, so M is the same whoever trains it (dae.classifier or the
    # first training run); the caller's random state is left as it was.
    with torch.random.fork_rng():
        torch.manual_seed(cfg.seed)
        module = ClassifierModule(instantiate(cfg.net), instantiate(cfg.optimizer), cfg.lr)
        trainer = L.Trainer(
            max_epochs=cfg.max_epochs,
            accelerator=accelerator,
            devices=1,
            logger=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
        )
        trainer.fit(module, datamodule=data)
    return module.net.cpu().eval()


def with_noisy_copies(cfg: DictConfig, data: DenoisingDataModule, noise: Noise) -> TrainingImages:
    """The clean training images of ``data`` and a noisy copy of each (``noise``, drawn once, 8-bit), in M's batches."""
    _, clean, labels = data.images("train")
    noisy = fixed_noise(noise, clean, "augmentation")  # not the images any test or probe uses
    return TrainingImages(torch.cat([to_u8(clean), to_u8(noisy)]), labels.repeat(2), data.images("val"), cfg.batch_size, cfg.seed)


def load_or_train(
    cfg: DictConfig,
    datamodule: DenoisingDataModule,
    cache_dir: str | Path,
    refresh: bool = False,
    accelerator: str = "auto",
    augment: Noise | None = None,
) -> nn.Module:
    """Classifier M for this config and dataset: from the cache, or trained now and cached.

    ``datamodule`` supplies the dataset (its source, split and image size); M trains on the
    clean training split, and with ``augment`` (a noise) on a noisy copy of each image too, as in
    experiments/augmentation: a classifier made robust by augmentation rather than by a denoiser, cached
    apart. Returns the network in eval mode, on the CPU.
    """
    key = cache_key(cfg, datamodule.source, datamodule.val_size, datamodule.split_seed, datamodule.image_size, augment)
    folder = check_folder(cache_dir, "paths.cache_dir") / "classifier" / key
    name = "classifier M" if augment is None else f"classifier M with noisy copies ({augment!r})"
    weights = folder / "model.pt"
    if weights.is_file() and not refresh:  # a cache folder appears whole (dae.files.write_folder): no lock to read it
        return _load(cfg, weights, name)
    with torch.device("meta"):  # its size, without drawing weights
        size = sum(t.numel() * t.element_size() for t in instantiate(cfg.net).state_dict().values())
    make_folder(cache_dir, "paths.cache_dir")  # a read-only cache: one line, before M trains
    check_folder(cache_dir, "paths.cache_dir", needed=2 * size + 10**6)  # room for the weights, the reports, a margin
    with _locked(folder.with_suffix(".lock")):
        if weights.is_file() and not refresh:  # another process trained it while this one waited
            return _load(cfg, weights, name)
        log.info("%s: training (%d epochs) into %s", name, cfg.max_epochs, folder)
        data = clean_data(cfg, datamodule)
        try:
            net = fit(cfg, data if augment is None else with_noisy_copies(cfg, data, augment), accelerator)
        except SystemExit as stopped:  # Lightning ends a fit interrupted by Ctrl-C with SystemExit(1)
            raise SystemExit(
                f"interrupted: {name} was not cached in {folder}; it will train again the next time it is needed."
            ) from stopped
        _, clean, labels = data.images("test")
        clean_report, text = report(labels.numpy(), predict(net, clean))
        buffer = io.BytesIO()
        torch.save(net.state_dict(), buffer)
        about = {
            "clean": clean_report,
            "config": OmegaConf.to_container(cfg, resolve=True),
            "augment": None if augment is None else repr(augment),
        }
        files = {"model.pt": buffer.getvalue(), "report.json": (json.dumps(about, indent=2) + "\n").encode(), "report.txt": text.encode()}
        try:
            write_folder(folder, files)
        except OSError as e:
            needed = sum(len(b) for b in files.values())
            raise DataError(
                f"{name} could not be cached in {folder} ({summary(e)}); nothing of it was written. It needs {needed / 1e6:.1f} MB: "
                "free space there, or point paths.cache_dir (or DAE_DATA_DIR) at another disk; M will train again."
            ) from None
        log.info("%s: clean test accuracy %.4f; saved to %s", name, clean_report["accuracy"], weights)
    return net


def _load(cfg: DictConfig, weights: Path, name: str) -> nn.Module:
    net = instantiate(cfg.net)
    net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    log.info("%s: loaded from %s", name, weights)
    return net.eval()
