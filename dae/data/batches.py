"""Batches as whole-tensor slices: one index operation per batch, no per-sample Python.

The training sampler derives its shuffling and each batch's noise seed from
``(seed, epoch, step)`` alone, never from a generator's running state, so a
resumed run replays exactly the batches and noise it would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from dae.errors import ConfigError


def derive_seed(*keys: int) -> int:
    """A well-mixed 63-bit seed from a tuple of integers (``(seed, epoch, step)``, ...)."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(2, dtype=np.uint64)[0] >> np.uint64(1))


class TensorBatches(Dataset):
    """Indexed by a batch (a tensor of indices, with an optional seed): returns the sliced tensors.

    Used with ``DataLoader(batch_size=None, sampler=...)`` so each item is already a batch.
    """

    def __init__(self, *tensors: torch.Tensor) -> None:
        self.tensors = tensors

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, item: tuple[torch.Tensor, int | None]) -> tuple:
        indices, seed = item
        # On a GPU the indices go over without waiting (a blocking copy would stall every step), and the
        # seed stays a Python int: as a tensor it would travel to the device and have to come back.
        indices = indices.to(self.tensors[0].device, non_blocking=True)
        sliced = tuple(t[indices] for t in self.tensors)
        return sliced if seed is None else (*sliced, seed)


class EpochBatchSampler(Sampler):
    """Yields ``(indices, batch_seed)`` per batch.

    Shuffled by a permutation derived from ``(seed, epoch)``; each batch's seed (for the
    training noise) from ``(seed, epoch, step)``. With ``world_size > 1`` each rank takes a
    distinct, equally long shard of the permutation. Lightning calls :meth:`set_epoch`.
    """

    def __init__(
        self, n: int, batch_size: int, shuffle: bool, seed: int = 0, rank: int = 0, world_size: int = 1, with_seed: bool = True
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"data.batch_size={batch_size} must be at least 1.")
        self.n, self.batch_size, self.shuffle, self.seed = n, batch_size, shuffle, seed
        self.rank, self.world_size, self.with_seed = rank, world_size, with_seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _shard(self) -> torch.Tensor:
        if self.shuffle:
            g = torch.Generator().manual_seed(derive_seed(self.seed, self.epoch))
            order = torch.randperm(self.n, generator=g)
        else:
            order = torch.arange(self.n)
        per_rank = self.n // self.world_size  # equal shards: every rank runs the same number of steps
        return order[self.rank * per_rank : (self.rank + 1) * per_rank]

    def __len__(self) -> int:
        per_rank = self.n // self.world_size
        return -(-per_rank // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, int | None]]:
        shard = self._shard()
        for step, start in enumerate(range(0, len(shard), self.batch_size)):
            seed = derive_seed(self.seed, self.epoch, step, self.rank) if self.with_seed else None
            yield shard[start : start + self.batch_size], seed
