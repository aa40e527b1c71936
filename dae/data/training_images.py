"""A data module over given training images, for training a classifier on other images than the
dataset's own (classifier M with noisy copies: ``dae.scoring.classifier.load_or_train(augment=...)``)."""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader

from dae.data.batches import EpochBatchSampler, TensorBatches
from dae.data.datamodule import Images, to_unit
from dae.inference import eval_batch_size


def to_u8(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] images as 8-bit pixels, as the data set stores them."""
    return images.mul(255).round_().clamp_(0, 255).to(torch.uint8)


class TrainingImages(L.LightningDataModule):
    """Batches ``(clean, clean, label)`` for :func:`dae.scoring.classifier.fit`: the 8-bit training ``images``,
    shuffled and batched as :class:`~dae.data.DenoisingDataModule` batches its training split (seed
    ``seed``), and the clean images of ``val`` for validation."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, val: Images, batch_size: int, seed: int) -> None:
        super().__init__()
        self.train_images, self.train_labels, self.val = images, labels, val
        self.batch_size, self.seed = batch_size, seed

    def train_dataloader(self) -> DataLoader:
        sampler = EpochBatchSampler(len(self.train_labels), self.batch_size, shuffle=True, seed=self.seed)
        return DataLoader(TensorBatches(self.train_images, self.train_labels), sampler=sampler, batch_size=None)

    def val_dataloader(self) -> DataLoader:
        _, clean, labels = self.val
        sampler = EpochBatchSampler(len(labels), eval_batch_size(None, torch.device("cpu")), shuffle=False, with_seed=False)
        return DataLoader(TensorBatches(clean, clean, labels), sampler=sampler, batch_size=None)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        if len(batch) == 3 and isinstance(batch[2], int):  # a training batch: (uint8 images, labels, seed)
            images, labels, _ = batch
            clean = to_unit(images)
            return clean, clean, labels
        return batch
