import pytest
import torch

from dae.data import DenoisingDataModule
from dae.data.datamodule import noise_seed
from dae.noise import Gaussian, SaltPepper
from tests.conftest import FILES, N_TEST, N_TRAIN


def make(fixture_data, noise=None, **kwargs) -> DenoisingDataModule:
    from dae.data import IDXSource

    folder, md5s = fixture_data
    files = {role: {"file": FILES[role], "md5": md5} for role, md5 in md5s.items()}
    dm = DenoisingDataModule(IDXSource("fixture", folder, files), noise or Gaussian(0.5), batch_size=32, eval_batch_size=50, val_size=100, **kwargs)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def test_splits_padding_and_dtypes(fixture_data):
    dm = make(fixture_data)
    assert dm.train_x.shape == (N_TRAIN - 100, 1, 32, 32) and dm.train_x.dtype == torch.uint8
    assert dm.val_x.shape == (100, 1, 32, 32)
    assert dm.test_x.shape == (N_TEST, 1, 32, 32)
    assert dm.train_x[..., :2, :].sum() == 0 and dm.train_x[..., -2:].sum() == 0  # 28 x 28 centred in 32 x 32
    assert dm.val_noisy.dtype == torch.float32 and dm.val_noisy.shape == dm.val_x.shape


def test_validation_hold_out_is_the_same_for_every_run_and_seed(fixture_data):
    a, b = make(fixture_data, seed=0), make(fixture_data, seed=123)
    assert torch.equal(a.val_x, b.val_x) and torch.equal(a.val_y, b.val_y)
    assert not torch.equal(a.val_x, make(fixture_data, split_seed=1).val_x)


def test_fixed_noise_depends_on_the_noise_config_only(fixture_data):
    a, b = make(fixture_data, seed=0), make(fixture_data, seed=99)
    assert torch.equal(a.val_noisy, b.val_noisy) and torch.equal(a.test_noisy, b.test_noisy)
    assert not torch.equal(a.val_noisy[: len(a.test_noisy)], a.test_noisy[: len(a.val_noisy)])
    assert not torch.equal(a.val_noisy, make(fixture_data, noise=Gaussian(0.3)).val_noisy)
    assert noise_seed(Gaussian(0.5), "val") != noise_seed(SaltPepper(), "val")


def test_training_batches_get_fresh_noise_on_the_batch_device(fixture_data):
    dm = make(fixture_data)
    loader = dm.train_dataloader()
    batches = [dm.on_after_batch_transfer(b, 0) for b in loader]
    assert len(batches) == len(loader) == -(-(N_TRAIN - 100) // 32)
    noisy, clean, labels = batches[0]
    assert noisy.dtype == clean.dtype == torch.float32 and labels.dtype == torch.int64
    assert noisy.shape == clean.shape == (32, 1, 32, 32)
    assert 0 <= clean.min() and clean.max() <= 1 and not torch.equal(noisy, clean)
    assert sum(len(b[0]) for b in batches) == N_TRAIN - 100  # every image once per epoch


def test_shuffling_and_noise_derive_from_seed_epoch_step(fixture_data):
    def first_batch(dm, epoch):
        loader = dm.train_dataloader()
        loader.sampler.set_epoch(epoch)
        return dm.on_after_batch_transfer(next(iter(loader)), 0)

    a, b = make(fixture_data, seed=5), make(fixture_data, seed=5)
    for x, y in zip(first_batch(a, 3), first_batch(b, 3)):
        assert torch.equal(x, y)  # same (seed, epoch, step): same images, same noise
    assert not torch.equal(first_batch(a, 3)[1], first_batch(a, 4)[1])  # another epoch, another order
    assert not torch.equal(first_batch(a, 3)[0], first_batch(make(fixture_data, seed=6), 3)[0])


def test_evaluation_batches_are_the_fixed_noisy_images(fixture_data):
    dm = make(fixture_data)
    noisy, clean, labels = dm.on_after_batch_transfer(next(iter(dm.val_dataloader())), 0)
    assert torch.equal(noisy, dm.val_noisy[:50])
    assert torch.equal(labels, dm.val_y[:50])


def test_ranks_get_distinct_equal_shards(fixture_data):
    from dae.data.batches import EpochBatchSampler

    shards = [torch.cat([i for i, _ in EpochBatchSampler(100, 8, True, seed=0, rank=r, world_size=2)]) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == 50
    assert not set(shards[0].tolist()) & set(shards[1].tolist())


def test_digit_examples_are_one_per_digit(fixture_data):
    dm = make(fixture_data)
    noisy, clean = dm.digit_examples("val")
    assert noisy.shape == clean.shape == (10, 1, 32, 32)
    firsts = [int(torch.nonzero(dm.val_y == d)[0, 0]) for d in range(10)]
    assert torch.equal(clean, dm.val_x[firsts].float() / 255)


def test_train_levels_draw_a_level_per_training_image(fixture_data):
    dm = make(fixture_data, train_levels=[0.0, 0.5])
    noisy, clean, _ = dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)
    residual = (noisy - clean).flatten(1).std(1)
    assert residual.max() > 2 * residual.min()  # a spread of levels within one batch
    assert torch.equal(dm.val_noisy, make(fixture_data).val_noisy)  # evaluation keeps the noise's level


@pytest.mark.parametrize("levels", [[0.5, 0.1], [0.1], [0.0, 1.5]])
def test_bad_train_levels_name_the_value(fixture_data, levels):
    with pytest.raises(ValueError, match=r"data.train_levels="):
        make(fixture_data, noise=SaltPepper(), train_levels=levels)


def test_evaluation_batch_size_is_chosen_by_device_unless_configured(fixture_data):
    from dae.inference import eval_batch_size

    assert eval_batch_size(None, torch.device("cpu")) == 256 and eval_batch_size(None, torch.device("cuda")) == 1000
    assert eval_batch_size(50, torch.device("cuda")) == 50
    dm = make(fixture_data)
    dm.eval_batch_size = None  # by device: no trainer here, so the CPU's
    assert [len(batch[0]) for batch in dm.val_dataloader()] == [100]  # 100 validation images, one batch of up to 256
    dm.eval_batch_size = 30
    assert [len(batch[0]) for batch in dm.val_dataloader()] == [30, 30, 30, 10]


def test_batched_inference_takes_the_evaluation_batch_size_by_device():
    from dae.inference import in_batches

    sizes = []
    images = torch.arange(600.0).view(600, 1, 1, 1)
    out = in_batches(lambda x: sizes.append(len(x)) or x * 2, images, "cpu")
    assert sizes == [256, 256, 88] and torch.equal(out, images * 2)  # every image once, in order
    sizes.clear()
    in_batches(lambda x: sizes.append(len(x)) or x, images, "cpu", batch_size=500)
    assert sizes == [500, 100]


def test_clean_fraction_leaves_that_share_of_training_images_clean(fixture_data):
    dm = make(fixture_data, clean_fraction=0.25)
    batches = [dm.on_after_batch_transfer(batch, 0) for batch in dm.train_dataloader()]
    untouched = torch.cat([(noisy == clean).flatten(1).all(1) for noisy, clean, _ in batches]).float().mean()
    assert 0.15 < untouched < 0.35  # a quarter, give or take the draw
    assert torch.equal(dm.val_noisy, make(fixture_data).val_noisy)  # evaluation keeps the noise


@pytest.mark.parametrize("fraction", [-0.1, 1.0])
def test_bad_clean_fraction_names_the_value(fixture_data, fraction):
    with pytest.raises(ValueError, match=rf"data.clean_fraction={fraction} must be in \[0, 1\)"):
        make(fixture_data, clean_fraction=fraction)
