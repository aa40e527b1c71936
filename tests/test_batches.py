"""dae.data.batches: batches as slices, their order and noise seeds derived from (seed, epoch, step)."""

import torch

from dae.data.batches import EpochBatchSampler, TensorBatches, derive_seed


def test_ranks_get_distinct_equal_shards():
    shards = [torch.cat([i for i, _ in EpochBatchSampler(100, 8, True, seed=0, rank=r, world_size=2)]) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == 50
    assert not set(shards[0].tolist()) & set(shards[1].tolist())


def test_order_and_seeds_depend_on_seed_and_epoch_only():
    def epoch(sampler, e):
        sampler.set_epoch(e)
        return [(i.tolist(), seed) for i, seed in sampler]

    a, b = EpochBatchSampler(50, 16, True, seed=3), EpochBatchSampler(50, 16, True, seed=3)
    assert epoch(a, 2) == epoch(b, 2) and epoch(a, 2) != epoch(a, 3)
    assert len(a) == 4 and sorted(sum((i for i, _ in epoch(a, 0)), [])) == list(range(50))  # every index once
    assert epoch(EpochBatchSampler(10, 4, False, with_seed=False), 0) == [([0, 1, 2, 3], None), ([4, 5, 6, 7], None), ([8, 9], None)]
    assert derive_seed(1, 2, 3) == derive_seed(1, 2, 3) != derive_seed(1, 2, 4)


def test_tensor_batches_slice_every_tensor_and_pass_the_seed_on():
    images, labels = torch.arange(10).view(10, 1), torch.arange(10) * 2
    sliced = TensorBatches(images, labels)[torch.tensor([3, 1]), 7]
    assert sliced[0].tolist() == [[3], [1]] and sliced[1].tolist() == [6, 2] and sliced[2] == 7
