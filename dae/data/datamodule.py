"""The data module: MNIST-style splits as uint8 tensors, served as (noisy, clean, label) batches."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from typing import NamedTuple

import lightning as L
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from dae.data.batches import EpochBatchSampler, TensorBatches
from dae.data.source import DataError, IDXSource
from dae.errors import ConfigError, first_line, integer, number
from dae.inference import eval_batch_size
from dae.noise import Noise

log = logging.getLogger(__name__)


def noise_seed(noise: Noise, split: str) -> int:
    """The seed of a split's fixed noise: a function of the noise configuration only,
    so every run and every model is judged on the very same noisy images."""
    key = json.dumps({"noise": noise.name, **noise.params(), "split": split}, sort_keys=True)
    return int(hashlib.sha256(key.encode()).hexdigest()[:15], 16)


def fixed_noise(noise: Noise, clean: torch.Tensor, split: str, chunk: int = 2048) -> torch.Tensor:
    """Noisy copies of ``clean`` (float in [0, 1], or uint8 pixels), generated on the CPU from
    :func:`noise_seed` (the same images whatever device trains the model)."""
    g = torch.Generator().manual_seed(noise_seed(noise, split))
    return torch.cat([noise(as_unit(clean[i : i + chunk]), g) for i in range(0, len(clean), chunk)])


def to_unit(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 pixels to float in [0, 1]."""
    return images_u8.float().div_(255.0)


def as_unit(images: torch.Tensor) -> torch.Tensor:
    """Images as float in [0, 1]: uint8 pixels scaled, float images as they are."""
    return to_unit(images) if images.dtype == torch.uint8 else images


def shifted(images: torch.Tensor, most: int, generator: torch.Generator) -> torch.Tensor:
    """Each image moved by a whole number of pixels drawn from ``[-most, most]`` along each axis (its own draw),
    the uncovered border black: the clean target and its noisy input move together."""
    n, c, h, w = images.shape
    offsets = torch.randint(-most, most + 1, (2, n, 1, 1), generator=generator, device=images.device)
    rows = (torch.arange(h, device=images.device).view(1, h, 1) - offsets[0]).expand(n, h, w)
    cols = (torch.arange(w, device=images.device).view(1, 1, w) - offsets[1]).expand(n, h, w)
    inside = ((rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)).unsqueeze(1)
    flat = (rows.clamp(0, h - 1) * w + cols.clamp(0, w - 1)).view(n, 1, h * w).expand(n, c, h * w)
    return images.flatten(2).gather(2, flat).view(n, c, h, w) * inside


def warped(images: torch.Tensor, most: float, generator: torch.Generator, share: float = 1.0) -> torch.Tensor:
    """Each image through its own small affine map about the centre: the identity with each of the four entries
    of its linear part moved by a draw from ``[-most, most]`` (rotations, shears, stretches and squeezes of up to
    about ``most`` radians or that share of the size), resampled bilinearly, the uncovered border black. Only a
    ``share`` of the images, drawn per image, is warped; the others keep their pixels."""
    n = len(images)
    columns = 4 if share >= 1 else 5  # the four entries, and whether the image is warped at all
    draws = torch.rand((n, columns), generator=generator, device=images.device, dtype=images.dtype)
    chosen = (draws[:, 4:] < share).to(images.dtype) if share < 1 else 1.0
    theta = torch.zeros((n, 2, 3), device=images.device, dtype=images.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    theta[:, :, :2] += (most * (2 * draws[:, :4] - 1) * chosen).view(n, 2, 2)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class Images(NamedTuple):
    """The images of one split, float in [0, 1], ``(N, 1, S, S)``, on the CPU, with their labels."""

    noisy: torch.Tensor | None  # the fixed noisy copies every run is judged on; None for the training split
    clean: torch.Tensor
    labels: torch.Tensor


SPLITS = ("train", "val", "test")


def check_levels(noise: Noise, levels: Sequence[float] | None) -> tuple[float, float] | None:
    """``data.train_levels`` as ``(low, high)``, checked against the noise's own range."""
    if levels is None:
        return None
    if noise.level_name is None or len(levels) != 2 or not float(levels[0]) <= float(levels[1]):
        raise ConfigError(
            f"data.train_levels={list(levels)} must be [low, high] with low <= high, for a noise with a level "
            f"(this noise: {noise.name}, level {noise.level_name}); e.g. data.train_levels=[0.1,0.8], or null for the noise's own level."
        )
    for level in levels:  # the noise's constructor checks each end against the allowed range
        try:
            noise.at_level(level)
        except ValueError as err:
            raise ConfigError(f"data.train_levels={list(levels)}: {first_line(err)}") from None
    return float(levels[0]), float(levels[1])


class DenoisingDataModule(L.LightningDataModule):
    """Train / validation / test splits of an IDX dataset, with noise.

    The training split minus a seeded hold-out of ``val_size`` images trains; the hold-out
    validates; the official test split tests. Images are padded to ``image_size``.
    Training noise is drawn afresh for every batch on the batch's device (in
    :meth:`on_after_batch_transfer`), seeded from ``(seed, epoch, step)``; validation and
    test noise is generated once per run from a seed that depends only on the noise.

    With ``train_levels = [low, high]``, each training image gets its own noise level
    (the noise's ``level_name`` parameter, e.g. ``sigma``) drawn uniformly from that range;
    validation and test keep the noise's configured level. With ``clean_fraction = p``, each training
    image is left clean (level 0) with probability ``p``, so that the autoencoder also learns to
    pass clean digits through. ``eval_batch_size = None`` chooses the validation and test batch
    size by device (:data:`dae.inference.EVAL_BATCH_SIZE`).

    Batches are ``(noisy, clean, label)`` with images as float ``(N, 1, S, S)`` in [0, 1]. Tools
    and callbacks get a split's images from :meth:`images`.
    """

    def __init__(
        self,
        source: IDXSource,
        noise: Noise,
        batch_size: int = 128,
        eval_batch_size: int | None = None,
        val_size: int = 5000,
        split_seed: int = 0,
        seed: int = 0,
        image_size: int = 32,
        num_workers: int = 0,
        train_levels: Sequence[float] | None = None,
        clean_fraction: float = 0.0,
        shift: int = 0,
        warp: float = 0.0,
        warp_share: float = 1.0,
    ) -> None:
        super().__init__()
        integers = dict(
            batch_size=batch_size, val_size=val_size, split_seed=split_seed, seed=seed, image_size=image_size, num_workers=num_workers
        )
        for key, value in integers.items():
            integer(f"data.{key}", value)
        if eval_batch_size is not None:  # null: chosen by device
            integer("data.eval_batch_size", eval_batch_size)
        if batch_size < 1 or (eval_batch_size is not None and eval_batch_size < 1):
            raise ConfigError(
                f"data.batch_size={batch_size} and data.eval_batch_size={eval_batch_size} must be at least 1 (eval_batch_size may be null: chosen by device)."
            )
        number("data.clean_fraction", clean_fraction)
        self.source, self.noise = source, noise
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.val_size, self.split_seed, self.seed = val_size, split_seed, seed
        self.image_size, self.num_workers = image_size, num_workers
        self.train_levels = check_levels(noise, train_levels)
        if not 0.0 <= clean_fraction < 1.0 or (clean_fraction and noise.level_name is None):
            raise ConfigError(
                f"data.clean_fraction={clean_fraction} must be in [0, 1), for a noise with a level (this noise: {noise.name}); "
                "e.g. data.clean_fraction=0.1 leaves a tenth of the training images clean, 0 none."
            )
        self.clean_fraction = float(clean_fraction)
        self.shift = integer("data.shift", shift)
        if not 0 <= self.shift < image_size // 2:
            raise ConfigError(
                f"data.shift={shift} must be from 0 to {image_size // 2 - 1} pixels; e.g. data.shift=3, or 0 to keep digits in place."
            )
        self.warp = number("data.warp", warp)
        if not 0.0 <= self.warp <= 0.5:
            raise ConfigError(
                f"data.warp={warp} must be from 0 to 0.5; e.g. data.warp=0.2 bends training digits by up to about a fifth, 0 leaves their shape."
            )
        self.warp_share = number("data.warp_share", warp_share)
        if not 0.0 <= self.warp_share <= 1.0:
            raise ConfigError(
                f"data.warp_share={warp_share} must be from 0 to 1: the share of training digits warped; e.g. data.warp_share=0.5."
            )
        self._pixels: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # split -> (uint8 images, labels), set by setup
        self._noisy: dict[str, torch.Tensor] = {}  # val, test -> their fixed noisy images

    # ------------------------------------------------------------ preparation

    def prepare_data(self) -> None:
        self.source.ensure()

    def setup(self, stage: str | None = None) -> None:
        if self._pixels:
            return
        train_x, train_y = self._load("train")
        test_x, test_y = self._load("test")
        if not 0 < self.val_size < len(train_x):
            raise ConfigError(f"data.val_size={self.val_size} must be between 1 and {len(train_x) - 1}, the training images less one.")
        order = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(self.split_seed))
        val_idx, train_idx = order[: self.val_size].sort().values, order[self.val_size :].sort().values
        self._pixels = {
            "train": (train_x[train_idx], train_y[train_idx]),
            "val": (train_x[val_idx], train_y[val_idx]),
            "test": (test_x, test_y),
        }
        self._noisy = {split: fixed_noise(self.noise, self._pixels[split][0], split) for split in ("val", "test")}
        sizes = {split: len(labels) for split, (_, labels) in self._pixels.items()}
        log.info(
            "%s: %d train, %d validation, %d test images; noise %r",
            self.source.name,
            sizes["train"],
            sizes["val"],
            sizes["test"],
            self.noise,
        )

    def images(self, split: str) -> Images:
        """The images of ``split`` (``train``, ``val`` or ``test``): the clean ones, the fixed noisy
        copies that validation and test use (None for ``train``, whose noise is drawn per batch),
        and the labels. Sets the data module up first if it is not."""
        if split not in SPLITS:
            raise ConfigError(f"split={split!r} is not one of {SPLITS}.")
        self.setup()
        pixels, labels = self._pixels[split]
        return Images(self._noisy.get(split), to_unit(pixels), labels)

    def digit_examples(self, split: str = "val") -> tuple[torch.Tensor, torch.Tensor]:
        """The first image of each digit 0-9 in ``split`` (``val`` or ``test``): ``(noisy, clean)``."""
        noisy, clean, labels = self.images(split)
        if noisy is None:
            raise ConfigError(f"split={split!r} has no fixed noisy images; digit examples come from 'val' or 'test'.")
        first = torch.stack([torch.nonzero(labels == d)[0, 0] for d in range(10)])
        return noisy[first], clean[first]

    def _load(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        images = torch.from_numpy(self.source.read(f"{split}_images").copy())
        labels = torch.from_numpy(self.source.read(f"{split}_labels").copy()).long()
        if len(images) != len(labels):
            raise DataError(
                f"{self.source.name}: {split} has {len(images)} images but {len(labels)} labels; the files do not belong together."
            )
        pad = self.image_size - images.shape[-1]
        if pad < 0 or pad % 2:
            raise ConfigError(
                f"data.image_size={self.image_size} must be at least {images.shape[-1]} and differ from it by an even number."
            )
        return F.pad(images, (pad // 2,) * 4).unsqueeze(1), labels

    # ------------------------------------------------------------ dataloaders

    def _rank(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def _loader(self, dataset: TensorBatches, batch_size: int, shuffle: bool) -> DataLoader:
        rank, world = self._rank()
        sampler = EpochBatchSampler(len(dataset), batch_size, shuffle, self.seed, rank, world, with_seed=shuffle)
        return DataLoader(dataset, sampler=sampler, batch_size=None, num_workers=self.num_workers, persistent_workers=self.num_workers > 0)

    def _resident(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """On a GPU, a split moves to the device once (MNIST's training images as uint8: 56 MB),
        so that each batch is a slice there, with no copy per step; on the CPU nothing moves."""
        device = self._device()
        return tuple(t.to(device) for t in tensors) if device.type == "cuda" else tensors

    def train_dataloader(self) -> DataLoader:
        return self._loader(TensorBatches(*self._resident(*self._pixels["train"])), self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test")

    def _eval_loader(self, split: str) -> DataLoader:
        dataset = TensorBatches(*self._resident(self._noisy[split], *self._pixels[split]))
        return self._loader(dataset, eval_batch_size(self.eval_batch_size, self._device()), shuffle=False)

    def _device(self) -> torch.device:
        """The trainer's device; the CPU when there is no trainer (a data module used on its own)."""
        return self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")

    # ------------------------------------------------------- on-device noise

    def transfer_batch_to_device(self, batch, device: torch.device, dataloader_idx: int):
        if all(t.device == device for t in batch if isinstance(t, torch.Tensor)):
            return batch  # sliced on the training device already; Lightning's generic move costs a GPU step's time in Python
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        if len(batch) == 3 and isinstance(batch[2], int):  # a training batch: (clean uint8, label, seed)
            clean_u8, labels, seed = batch
            clean = to_unit(clean_u8)
            generator = torch.Generator(device=clean.device).manual_seed(seed)
            if self.warp:
                clean = warped(clean, self.warp, generator, self.warp_share)
            if self.shift:
                clean = shifted(clean, self.shift, generator)
            noise = self.noise
            if self.train_levels is not None or self.clean_fraction:

                def per_image() -> torch.Tensor:  # one uniform draw per image, from the batch's generator
                    return torch.rand((len(clean), 1, 1, 1), generator=generator, device=clean.device, dtype=clean.dtype)

                level = getattr(noise, noise.level_name)
                if self.train_levels is not None:
                    low, high = self.train_levels
                    level = low + (high - low) * per_image()
                if self.clean_fraction:
                    level = level * (per_image() >= self.clean_fraction)
                noise = noise.at_level(level)
            return noise(clean, generator), clean, labels
        noisy, clean_u8, labels = batch  # an evaluation batch: the fixed noisy images
        return noisy, to_unit(clean_u8), labels
