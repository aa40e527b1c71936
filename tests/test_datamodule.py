"""dae.data.datamodule: splits, fixed evaluation noise, training batches with fresh noise, and images() for tools."""

import pytest
import torch

from dae.data import DenoisingDataModule
from dae.data.datamodule import fixed_noise, noise_seed
from dae.noise import Gaussian, SaltPepper
from tests.conftest import FILES, N_TEST, N_TRAIN


def make(fixture_data, noise=None, **kwargs) -> DenoisingDataModule:
    from dae.data import IDXSource

    folder, md5s = fixture_data
    files = {role: {"file": FILES[role], "md5": md5} for role, md5 in md5s.items()}
    dm = DenoisingDataModule(
        IDXSource("fixture", folder, files), noise or Gaussian(0.5), batch_size=32, eval_batch_size=50, val_size=100, **kwargs
    )
    dm.prepare_data()
    dm.setup("fit")
    return dm


def test_splits_padding_and_dtypes(fixture_data):
    dm = make(fixture_data)
    train, val, test = dm.images("train"), dm.images("val"), dm.images("test")
    assert train.clean.shape == (N_TRAIN - 100, 1, 32, 32) and train.clean.dtype == torch.float32 and train.noisy is None
    assert val.clean.shape == (100, 1, 32, 32) and len(val.labels) == 100
    assert test.clean.shape == (N_TEST, 1, 32, 32) and test.labels.dtype == torch.int64
    assert train.clean[..., :2, :].sum() == 0 and train.clean[..., -2:].sum() == 0  # 28 x 28 centred in 32 x 32
    assert 0 <= train.clean.min() and train.clean.max() <= 1 and train.clean.max() > 0.5
    assert val.noisy.dtype == torch.float32 and val.noisy.shape == val.clean.shape
    with pytest.raises(ValueError, match=r"split='training' is not one of \('train', 'val', 'test'\)"):
        dm.images("training")


def test_validation_hold_out_is_the_same_for_every_run_and_seed(fixture_data):
    a, b = make(fixture_data, seed=0), make(fixture_data, seed=123)
    assert torch.equal(a.images("val").clean, b.images("val").clean) and torch.equal(a.images("val").labels, b.images("val").labels)
    assert not torch.equal(a.images("val").clean, make(fixture_data, split_seed=1).images("val").clean)


def test_fixed_noise_depends_on_the_noise_config_only(fixture_data):
    a, b = make(fixture_data, seed=0), make(fixture_data, seed=99)
    (a_val, a_test), (b_val, b_test) = ((dm.images("val").noisy, dm.images("test").noisy) for dm in (a, b))
    assert torch.equal(a_val, b_val) and torch.equal(a_test, b_test)
    assert not torch.equal(a_val[: len(a_test)], a_test[: len(a_val)])
    assert not torch.equal(a_val, make(fixture_data, noise=Gaussian(0.3)).images("val").noisy)
    assert noise_seed(Gaussian(0.5), "val") != noise_seed(SaltPepper(), "val")
    assert torch.equal(fixed_noise(Gaussian(0.5), a.images("val").clean, "val"), a_val)  # float images or uint8 pixels alike


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
    val = dm.images("val")
    assert torch.equal(noisy, val.noisy[:50]) and torch.equal(clean, val.clean[:50]) and torch.equal(labels, val.labels[:50])


def test_digit_examples_are_one_per_digit(fixture_data):
    dm = make(fixture_data)
    noisy, clean = dm.digit_examples("val")
    assert noisy.shape == clean.shape == (10, 1, 32, 32)
    val = dm.images("val")
    firsts = [int(torch.nonzero(val.labels == d)[0, 0]) for d in range(10)]
    assert torch.equal(clean, val.clean[firsts]) and torch.equal(noisy, val.noisy[firsts])


def test_train_levels_draw_a_level_per_training_image(fixture_data):
    dm = make(fixture_data, train_levels=[0.0, 0.5])
    noisy, clean, _ = dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)
    residual = (noisy - clean).flatten(1).std(1)
    assert residual.max() > 2 * residual.min()  # a spread of levels within one batch
    assert torch.equal(dm.images("val").noisy, make(fixture_data).images("val").noisy)  # evaluation keeps the noise's level


@pytest.mark.parametrize("levels", [[0.5, 0.1], [0.1], [0.0, 1.5]])
def test_bad_train_levels_name_the_value(fixture_data, levels):
    with pytest.raises(ValueError, match=r"data.train_levels="):
        make(fixture_data, noise=SaltPepper(), train_levels=levels)


def test_evaluation_batch_size_is_chosen_by_device_unless_configured(fixture_data):
    dm = make(fixture_data)
    dm.eval_batch_size = None  # by device: no trainer here, so the CPU's
    assert [len(batch[0]) for batch in dm.val_dataloader()] == [100]  # 100 validation images, one batch of up to 256
    dm.eval_batch_size = 30
    assert [len(batch[0]) for batch in dm.val_dataloader()] == [30, 30, 30, 10]


def test_clean_fraction_leaves_that_share_of_training_images_clean(fixture_data):
    dm = make(fixture_data, clean_fraction=0.25)
    batches = [dm.on_after_batch_transfer(batch, 0) for batch in dm.train_dataloader()]
    untouched = torch.cat([(noisy == clean).flatten(1).all(1) for noisy, clean, _ in batches]).float().mean()
    assert 0.15 < untouched < 0.35  # a quarter, give or take the draw
    assert torch.equal(dm.images("val").noisy, make(fixture_data).images("val").noisy)  # evaluation keeps the noise


@pytest.mark.parametrize("fraction", [-0.1, 1.0])
def test_bad_clean_fraction_names_the_value(fixture_data, fraction):
    with pytest.raises(ValueError, match=rf"data.clean_fraction={fraction} must be in \[0, 1\)"):
        make(fixture_data, clean_fraction=fraction)


def test_shift_moves_each_training_digit_and_its_target_together(fixture_data):
    from dae.data.datamodule import shifted

    dm, still = make(fixture_data, shift=3), make(fixture_data)
    batch = next(iter(dm.train_dataloader()))
    noisy, clean, labels = dm.on_after_batch_transfer(batch, 0)
    _, unmoved, same_labels = still.on_after_batch_transfer(next(iter(still.train_dataloader())), 0)
    assert torch.equal(labels, same_labels) and not torch.equal(clean, unmoved)
    rows = torch.arange(32.0).view(1, 32, 1)
    centre = lambda x: (x[:, 0] * rows).sum((1, 2)) / x[:, 0].sum((1, 2))  # noqa: E731
    moved = (centre(clean) - centre(unmoved)).abs()
    assert moved.max() <= 3 + 1e-4 and (moved > 0.5).float().mean() > 0.5  # up to 3 pixels, most digits moved
    assert (noisy - clean).abs().mean() > 0.1  # the noise is drawn on the moved digit
    one = torch.zeros((1, 1, 5, 5))
    one[0, 0, 2, 2] = 1.0
    g = torch.Generator().manual_seed(0)
    moves = [shifted(one, 2, g)[0, 0] for _ in range(20)]
    assert all(m.sum() == 1 and m.max() == 1 for m in moves)  # whole-pixel moves inside the image: nothing lost or smeared
    assert len({tuple(m.nonzero()[0].tolist()) for m in moves}) > 5  # to many places
    assert torch.equal(dm.images("val").noisy, still.images("val").noisy)  # evaluation images stay in place


def test_warp_bends_each_training_digit_and_its_target_together(fixture_data):
    from dae.data.datamodule import warped

    dm, still = make(fixture_data, warp=0.3), make(fixture_data)
    noisy, clean, _ = dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)
    _, straight, _ = still.on_after_batch_transfer(next(iter(still.train_dataloader())), 0)
    change = (clean - straight).abs().flatten(1).mean(1)
    assert (change > 0.01).float().mean() > 0.8  # most digits bent
    assert (noisy - clean).abs().mean() > 0.1  # the noise is drawn on the bent digit
    assert torch.equal(dm.images("val").noisy, still.images("val").noisy)  # evaluation images keep their shape
    g = torch.Generator().manual_seed(0)
    assert torch.allclose(warped(straight, 0.0, g), straight, atol=1e-5)  # no warp: the identity map
    ink = warped(straight, 0.3, g).sum((1, 2, 3)) / straight.sum((1, 2, 3))
    assert 0.5 < ink.median() < 1.5  # bent, not erased or smeared over the image
    half = warped(straight, 0.3, g, share=0.5)
    kept = (half - straight).abs().flatten(1).amax(1) < 1e-5
    assert 0.25 < kept.float().mean() < 0.75  # about half the digits keep their pixels


@pytest.mark.parametrize("share", [-0.5, 1.5])
def test_bad_warp_share_names_the_value(fixture_data, share):
    with pytest.raises(ValueError, match=rf"data.warp_share={share} must be from 0 to 1"):
        make(fixture_data, warp=0.2, warp_share=share)


@pytest.mark.parametrize("warp", [-0.1, 0.6])
def test_bad_warp_names_the_value(fixture_data, warp):
    with pytest.raises(ValueError, match=rf"data.warp={warp} must be from 0 to 0.5"):
        make(fixture_data, warp=warp)


@pytest.mark.parametrize("shift", [-1, 16])
def test_bad_shift_names_the_value(fixture_data, shift):
    with pytest.raises(ValueError, match=rf"data.shift={shift} must be from 0 to 15 pixels"):
        make(fixture_data, shift=shift)
