"""dae.noise: the properties every noise shares, run on each conf/noise/*.yaml (a new noise's config
is picked up without editing this file), then what each noise does in particular."""

import json
import math
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from dae.data.datamodule import noise_seed
from dae.noise import (
    Blur,
    Brightness,
    Dropout,
    Gaussian,
    Haze,
    Identity,
    Inversion,
    Jitter,
    Mixed,
    MotionBlur,
    Noise,
    Occlusion,
    Outline,
    Periodic,
    Poisson,
    SaltPepper,
    Smudges,
    Speckle,
    Strokes,
    WavyLines,
)
from tests.conftest import CONF

CONFIGS = sorted((CONF / "noise").glob("*.yaml"))
NOISES = [instantiate(OmegaConf.load(path)) for path in CONFIGS]
IDS = [path.stem for path in CONFIGS]
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


def batch(device="cpu", n=64, value=None):
    g = torch.Generator(device=device).manual_seed(0)
    x = torch.rand((n, 1, 32, 32), generator=g, device=device)
    return torch.full_like(x, value) if value is not None else x


@pytest.mark.parametrize("path", CONFIGS, ids=IDS)
def test_config_builds_a_noise_named_after_its_file(path: Path):
    noise = instantiate(OmegaConf.load(path))
    assert isinstance(noise, Noise) and noise.name == path.stem  # the name keys the fixed noise and the reports
    json.dumps(noise.params())  # recorded in JSON files as it is
    assert repr(noise).startswith(type(noise).__name__ + "(")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("noise", NOISES, ids=IDS)
def test_shape_range_device(noise, device):
    x = batch(device)
    y = noise(x, torch.Generator(device=device).manual_seed(1))
    assert y.shape == x.shape and y.device == x.device and y.dtype == x.dtype
    assert y.min() >= 0 and y.max() <= 1
    assert torch.equal(y, x) == isinstance(noise, Identity), "a noise changes the images; only noise=none does not"


@pytest.mark.parametrize("noise", NOISES, ids=IDS)
def test_seeded_determinism(noise):
    x = batch()
    a = noise(x, torch.Generator().manual_seed(7))
    b = noise(x, torch.Generator().manual_seed(7))
    c = noise(x, torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert torch.equal(a, c) != noise.random  # deterministic corruptions (blur, none) ignore the generator


@pytest.mark.parametrize("noise", NOISES, ids=IDS)
def test_input_not_modified(noise):
    x = batch()
    before = x.clone()
    noise(x, torch.Generator().manual_seed(0))
    assert torch.equal(x, before)


@pytest.mark.parametrize("noise", [n for n in NOISES if n.level_name], ids=[i for n, i in zip(NOISES, IDS) if n.level_name])
def test_at_level_rebuilds_the_noise_at_another_level(noise):
    level = getattr(noise, noise.level_name)
    same = noise.at_level(level)
    assert type(same) is type(noise) and same.params() == noise.params()
    x = batch()
    assert torch.equal(same(x, torch.Generator().manual_seed(3)), noise(x, torch.Generator().manual_seed(3)))
    other = noise.at_level(level / 2)
    assert other.params()[noise.level_name] == level / 2 and noise_seed(other, "test") != noise_seed(noise, "test")


def test_every_noise_config_has_its_own_fixed_noise():
    assert len({noise_seed(noise, "test") for noise in NOISES}) == len(NOISES)


@pytest.mark.parametrize("sigma", [0.1, 0.5])
def test_gaussian_residual_std_is_sigma_before_clipping(sigma):
    # Mid-grey images: clipping at 0 and 1 is rare for small sigma, and never touches
    # the residual's standard deviation estimate for the unclipped pixels.
    x = batch(value=0.5, n=256)
    y = Gaussian(sigma).corrupt(x, torch.Generator().manual_seed(0))
    assert (y - x).std().item() == pytest.approx(sigma, rel=0.02)
    assert (y - x).mean().item() == pytest.approx(0.0, abs=0.01)


@pytest.mark.parametrize("amount", [0.1, 0.3, 0.6])
def test_salt_pepper_fraction_is_amount(amount):
    x = batch(value=0.5, n=256)  # 0.5 is neither salt nor pepper, so every hit is visible
    y = SaltPepper(amount=amount, salt_vs_pepper=0.25)(x, torch.Generator().manual_seed(0))
    hit = y != 0.5
    assert hit.float().mean().item() == pytest.approx(amount, abs=0.01)
    assert (y[hit] == 1).float().mean().item() == pytest.approx(0.25, abs=0.02)


def test_speckle_scales_with_intensity():
    g = torch.Generator().manual_seed(0)
    dark = Speckle(0.5).corrupt(batch(value=0.0, n=64), g)
    bright = Speckle(0.2).corrupt(batch(value=0.5, n=256), g)
    assert torch.equal(dark, torch.zeros_like(dark)), "speckle must leave black pixels black"
    assert (bright - 0.5).std().item() == pytest.approx(0.5 * 0.2, rel=0.03)


def test_periodic_is_a_sine_of_the_amplitude_with_per_image_frequency():
    x = batch(value=0.5, n=32)
    y = Periodic(amplitude=0.3).corrupt(x, torch.Generator().manual_seed(0))
    wave = y - x
    assert wave.abs().max().item() == pytest.approx(0.3, abs=0.01)
    assert wave.std(dim=(1, 2, 3)).mean().item() == pytest.approx(0.3 / math.sqrt(2), rel=0.1)
    assert not torch.allclose(wave[0], wave[1]), "each image draws its own frequency, angle and phase"


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Gaussian(sigma=-0.1), r"noise\.sigma=-0\.1 .*allowed >= 0"),
        (lambda: Speckle(sigma=-1), r"noise\.sigma=-1\.0"),
        (lambda: SaltPepper(amount=1.5), r"noise\.amount=1\.5 .*\[0\.0, 1\.0\]"),
        (lambda: SaltPepper(salt_vs_pepper=-0.2), r"noise\.salt_vs_pepper=-0\.2"),
        (lambda: Periodic(amplitude=-0.4), r"noise\.amplitude=-0\.4"),
        (lambda: Periodic(freq_min=8, freq_max=2), r"noise\.freq_max=2\.0 .*>= 8\.0"),
        (lambda: Gaussian(sigma=float("nan")), r"noise\.sigma=nan"),
        (
            lambda: Mixed({"gaussian": [0.1, 0.7], "fog": [1, 2]}),
            r"noise\.levels\.fog: unknown noise type; allowed \['blur', 'brightness', 'dropout', 'gaussian', 'haze', 'inversion', 'jitter', 'motion_blur', ",
        ),
        (lambda: Mixed({"gaussian": [0.1, 0.7]}, clean=1.5), r"noise\.clean=1\.5 is out of range"),
        (lambda: Mixed({"salt_pepper": [0.1, 1.5]}), r"noise\.levels\.salt_pepper=\[0\.1, 1\.5\]: noise\.amount=1\.5 is out of range"),
        (lambda: Mixed({"gaussian": [0.7, 0.1]}), r"noise\.levels\.gaussian=\[0\.7, 0\.1\] must be \[low, high\]"),
        (lambda: Mixed({}), r"noise\.levels is empty"),
        (
            lambda: Mixed({"gaussian": [0.1, 0.7]}, weights={"blur": 2}),
            r"noise\.weights\.blur: not a type of this mixture; weigh one of \['gaussian'\]",
        ),
        (lambda: Mixed({"gaussian": [0.1, 0.7]}, weights={"gaussian": -1}), r"noise\.weights\.gaussian=-1\.0 is out of range"),
        (lambda: Mixed({"gaussian": [0.1, 0.7]}, weights={"gaussian": 0}), r"noise\.weights=\{'gaussian': 0\} leave no type to draw"),
    ],
)
def test_bad_parameters_raise_naming_parameter_value_and_range(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    "noise",
    [
        Gaussian(),
        SaltPepper(),
        Speckle(),
        Periodic(),
        Occlusion(),
        Strokes(),
        WavyLines(),
        Haze(),
        Smudges(),
        Brightness(),
        Dropout(),
        Jitter(),
    ],
    ids=lambda n: n.name,
)
def test_per_image_levels_scale_each_image(noise):
    """at_level() with one level per image: level 0 leaves an image clean, a higher level changes it more."""
    x = batch(value=0.5)
    levels = torch.tensor([0.0, 0.1, 0.4]).repeat_interleave(len(x) // 3 + 1)[: len(x)].view(-1, 1, 1, 1)
    y = noise.at_level(levels)(x, torch.Generator().manual_seed(0))
    change = (y - x).abs().flatten(1).mean(1)
    assert torch.all(change[levels.flatten() == 0] == 0)
    assert change[levels.flatten() == 0.1].mean() < change[levels.flatten() == 0.4].mean()
    assert noise.at_level(0.2).params()[noise.level_name] == 0.2 and noise.params() != noise.at_level(0.2).params()


def test_noise_without_level_says_so():
    with pytest.raises(ValueError, match="no level"):
        Identity().at_level(0.1)


def test_mixed_gives_each_image_one_type_at_a_level_in_its_range():
    """Salt-and-pepper images have only 0s and 1s where they changed; gaussian ones change the
    whole background; each type is drawn for about a quarter of the images."""
    x = batch(n=4000, value=0.5)
    mixed = Mixed({"gaussian": [0.2, 0.2], "salt_pepper": [0.3, 0.3]})
    y = mixed(x, torch.Generator().manual_seed(0))
    changed = (y != x).flatten(1)
    impulse = ((y == 0) | (y == 1) | (y == x)).flatten(1).all(1)  # salt-and-pepper images
    assert 0.45 < impulse.float().mean() < 0.55
    assert abs(changed[impulse].float().mean() - 0.3) < 0.01  # amount 0.3 of their pixels hit
    assert abs((y - x)[~impulse].std() - 0.2) < 0.01  # sigma 0.2 on the others (0.5 +- 0.2 is rarely clipped)
    assert mixed.params() == {"gaussian_low": 0.2, "gaussian_high": 0.2, "salt_pepper_low": 0.3, "salt_pepper_high": 0.3}


def test_poisson_keeps_the_mean_with_variance_x_over_peak():
    x = batch(n=256, value=0.5)
    y = Poisson(peak=20)(x, torch.Generator().manual_seed(0))
    assert abs(y.mean() - 0.5) < 0.005
    assert abs(y.var() - 0.5 / 20) < 0.002
    assert torch.allclose(y * 20, (y * 20).round(), atol=1e-4)  # whole photon counts
    lower = Poisson(peak=5)(x, torch.Generator().manual_seed(0))
    assert lower.var() > y.var()  # a lower peak is noisier


def test_blur_smooths_keeps_flat_images_and_sigma_zero_is_identity():
    x = batch(n=8)
    y = Blur(sigma=1.5)(x, torch.Generator())
    assert y.var() < 0.3 * x.var()  # white noise loses most of its variance
    flat = batch(n=2, value=0.7)
    assert torch.allclose(Blur(2.0)(flat, torch.Generator()), flat)
    assert torch.allclose(Blur(0.0)(x, torch.Generator()), x, atol=1e-6)
    per_image = Blur().at_level(torch.tensor([0.0, 2.0]).view(2, 1, 1, 1))(x[:2], torch.Generator())
    assert torch.allclose(per_image[0], x[0], atol=1e-6) and torch.allclose(
        per_image[1], Blur(2.0)(x[1:2], torch.Generator())[0], atol=1e-6
    )


def test_occlusion_erases_rectangles_of_the_given_size():
    x = batch(n=2000, value=1.0)
    y = Occlusion(size=0.3, count=1)(x, torch.Generator().manual_seed(0))
    assert set(y.unique().tolist()) <= {0.0, 1.0}
    erased = (y == 0).float().flatten(1).mean(1)
    # one rectangle of sides in [0.15, 0.3]: at most 9% of the image, on average about 5% (less where it crosses the border)
    assert erased.max() <= 0.3 * 0.3 + 0.01 and 0.02 < erased.mean() < 0.06
    rows = (y[0, 0] == 0).any(1).nonzero().flatten()
    assert len(rows) == 0 or torch.equal(rows, torch.arange(rows.min(), rows.max() + 1))  # one solid block


def test_new_noises_validate_their_levels():
    with pytest.raises(ValueError, match=r"noise\.peak=0\.0 is out of range"):
        Poisson(peak=0)
    with pytest.raises(ValueError, match=r"noise\.sigma=-1\.0 is out of range: allowed \[0\.0, 10\.0\]"):
        Blur(sigma=-1)
    with pytest.raises(ValueError, match=r"noise\.size=1\.5 is out of range: allowed \[0\.0, 1\.0\]"):
        Occlusion(size=1.5)


def test_motion_blur_smears_along_one_direction_and_length_zero_is_identity():
    x = torch.zeros((2, 1, 32, 32))
    x[:, :, 16, 16] = 1.0  # one bright dot
    y = MotionBlur(length=8)(x, torch.Generator().manual_seed(0))
    assert torch.allclose(y.sum((2, 3)), x.sum((2, 3)), atol=0.05)  # the light is spread, not lost
    lit = (y[0, 0] > 0.01).nonzero().float()
    spread = torch.linalg.svdvals(lit - lit.mean(0))
    assert spread[0] > 3 * spread[1]  # a streak: long one way, thin the other
    assert torch.allclose(MotionBlur(0.0)(x, torch.Generator()), x, atol=1e-6)


def test_strokes_add_bright_lines_and_keep_the_digit():
    x = batch(n=500, value=0.0)
    y = Strokes(count=2)(x, torch.Generator().manual_seed(0))
    inked = (y > 0.2).flatten(1).float().mean(1)
    assert 0.02 < inked.mean() < 0.2 and (inked > 0).float().mean() > 0.95  # thin lines on nearly every image
    assert torch.all(Strokes(count=2)(batch(n=4, value=1.0), torch.Generator()) == 1.0)  # ink never darkens


def test_haze_lifts_the_background_smoothly_and_lowers_contrast():
    x = batch(n=200, value=0.0)
    x[:, :, 12:20, 14:18] = 1.0  # a stroke
    y = Haze(strength=2)(x, torch.Generator().manual_seed(0))
    background = y[:, :, :8, :8]
    assert background.mean() > 0.1  # lifted
    assert (y[:, :, :, 1:] - y[:, :, :, :-1]).abs()[:, :, :8].mean() < 0.05  # smooth: neighbours alike
    contrast = y[:, :, 12:20, 14:18].mean((1, 2, 3)) - y[:, :, 12:20, 20:24].mean((1, 2, 3))
    assert contrast.mean() < 0.9


def test_brightness_lifts_and_fades_within_its_shift():
    noise = Brightness(shift=0.4)
    black = noise(batch(n=2000, value=0.0), torch.Generator().manual_seed(0))
    white = noise(batch(n=2000, value=1.0), torch.Generator().manual_seed(0))
    assert black.min() >= 0 and black.max() <= 0.4 + 1e-6 and black.std() > 0.1  # the background lifted by up to the shift
    assert white.min() >= 0.6 - 1e-6 and white.max() <= 1  # strokes keep at least 1 - shift


def test_dropout_zeroes_the_fraction_rate():
    x = batch(n=200, value=0.5)
    y = Dropout(rate=0.3)(x, torch.Generator().manual_seed(0))
    assert set(y.unique().tolist()) == {0.0, 0.5}
    assert abs((y == 0).float().mean() - 0.3) < 0.01


def test_mixed_leaves_a_clean_share_and_can_draw_every_family():
    families = {"motion_blur": [4, 4], "strokes": [2, 2], "haze": [1, 1], "brightness": [0.3, 0.3], "dropout": [0.3, 0.3]}
    mixed = Mixed(families, clean=0.25, name="broad")
    x = batch(n=2000)
    y = mixed(x, torch.Generator().manual_seed(0))
    assert abs((y == x).flatten(1).all(1).float().mean() - 0.25) < 0.03
    assert mixed.name == "broad" and mixed.params()["clean"] == 0.25
    assert noise_seed(mixed, "test") != noise_seed(Mixed(families, clean=0.25), "test")  # the name keys the fixed noise


def test_mixed_draws_each_family_in_proportion_to_its_weight():
    x = batch(n=6000, value=0.5)
    mixed = Mixed({"dropout": [0.5, 0.5], "brightness": [0.3, 0.3], "blur": [1, 1]}, weights={"dropout": 3, "blur": 0})
    y = mixed(x, torch.Generator().manual_seed(0))
    dropped = (y == 0).flatten(1).any(1).float().mean()  # dropout zeroes pixels; brightness over 0.5 never does
    assert abs(dropped - 0.75) < 0.02  # 3 : 1 against brightness
    assert not torch.equal(y, x) and (y != x).flatten(1).any(1).all()  # blur, weight 0, is never drawn (it would leave a flat 0.5 as it is)
    assert mixed.params()["dropout_weight"] == 3 and "dropout_weight" not in Mixed({"dropout": [0.5, 0.5]}).params()
    plain = Mixed({"dropout": [0.5, 0.5], "brightness": [0.3, 0.3]})
    even = Mixed({"dropout": [0.5, 0.5], "brightness": [0.3, 0.3]}, weights={"dropout": 2, "brightness": 2})
    assert torch.equal(plain(x, torch.Generator().manual_seed(1)), even(x, torch.Generator().manual_seed(1)))  # equal weights draw as none


def test_wavy_lines_zigzag_across_their_line():
    x = batch(n=200, value=0.0)
    y = WavyLines(count=1.0, width=1.0)(x, torch.Generator().manual_seed(0))
    inked = y[:, 0] > 0.25
    assert inked.flatten(1).any(1).float().mean() > 0.9  # one line per image (some fall short or off the image)
    assert y.max() <= 1 and WavyLines(count=0.0)(x, torch.Generator().manual_seed(0)).max() == 0
    # a straight stroke of the same width inks about its length in pixels; a zigzag, folded into teeth, about twice as many
    straight = Strokes(count=1.0, width=1.0)(x, torch.Generator().manual_seed(0))[:, 0] > 0.25
    assert inked.flatten(1).sum(1).float().mean() > 1.3 * straight.flatten(1).sum(1).float().mean()


def test_jitter_frizzes_strokes_in_place():
    x = torch.zeros((100, 1, 32, 32))
    x[:, :, :, 14:18] = 1.0  # a bar 4 pixels wide
    y = Jitter(reach=1.5)(x, torch.Generator().manual_seed(0))
    assert y.sum() / x.sum() == pytest.approx(1.0, abs=0.05)  # ink neither lost nor added (a little at the image's edge)
    assert y[..., 16].mean() > 0.9 and y[..., 10].max() == 0 and y[..., 20].max() == 0  # in place, within its reach
    edges = y[..., [13, 18]]
    assert 0.05 < edges.mean() < 0.5 and edges.std() > 0.1  # the sides frizz, pixel by pixel
    assert torch.equal(Jitter(reach=0.0)(x, torch.Generator().manual_seed(0)), x)


def test_inversion_inverts_one_rectangle_of_the_given_width():
    x = batch(n=500, value=0.25)
    y = Inversion(width=0.4)(x, torch.Generator().manual_seed(0))
    assert set(y.unique().tolist()) <= {0.25, 0.75}
    inverted = y[:, 0] == 0.75
    columns = inverted.any(1).float().sum(1) / 32
    assert columns.min() >= 0.2 - 1 / 32 and columns.max() <= 0.4 + 1 / 32  # width/2 to width of the image
    rows = inverted.any(2).float().sum(1) / 32
    assert rows.min() >= 0.5 - 1 / 32


def test_smudges_paint_grey_over_about_the_coverage():
    x = batch(n=300, value=1.0)
    y = Smudges(coverage=0.25)(x, torch.Generator().manual_seed(0))
    covered = (y < 0.99).flatten(1).float().mean(1)
    assert abs(covered.mean() - 0.25) < 0.05
    assert y.min() >= 0.1 - 1e-6  # painted grey, never black


def test_outline_hollows_a_stroke_to_its_edges():
    x = torch.zeros((2, 1, 32, 32))
    x[:, :, :, 12:20] = 1.0  # a bar 8 pixels wide
    y = Outline(strength=1.0)(x, torch.Generator().manual_seed(0))
    assert y.max() == pytest.approx(1.0) and y[..., 15:17].max() == 0  # the bar's middle is hollow
    assert y[..., [11, 12, 19, 20]].min() > 0.5 and y[..., :10].max() == 0  # bright at both sides, dark away from them
    half = Outline(strength=0.5)(x, torch.Generator().manual_seed(0))
    assert torch.allclose(half, (x + y) / 2) and torch.equal(Outline(strength=0.0)(x, torch.Generator()), x)
    with pytest.raises(ValueError, match=r"noise\.strength=1\.5 is out of range: allowed \[0\.0, 1\.0\]"):
        Outline(strength=1.5)
