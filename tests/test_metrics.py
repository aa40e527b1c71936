"""dae.metrics: PSNR and SSIM over the 28 x 28 area inside the padding."""

import math

import pytest
import torch

from dae.metrics import PSNR_CAP, ImageQuality, image_quality


def test_scores_leave_the_padding_out():
    clean = torch.zeros(2, 1, 32, 32)
    clean[..., 2:30, 2:30] = 0.5
    denoised = clean.clone()
    denoised[..., :2, :] = 1.0  # wrong only in the padding
    noisy = clean + 0.1
    scores = image_quality(denoised, noisy, clean, crop=2)
    assert scores["psnr"] == pytest.approx(PSNR_CAP) and scores["ssim"] == pytest.approx(1.0)
    assert scores["noisy_psnr"] == pytest.approx(20.0, abs=1e-4)  # an error of 0.1 everywhere: 10 log10(1 / 0.01)
    assert image_quality(denoised, noisy, clean, crop=0)["psnr"] < 30  # the padding counts without the crop


def test_psnr_is_the_mean_of_per_image_values_and_loss_the_weighted_mean():
    clean = torch.zeros(2, 1, 8, 8)
    denoised = torch.stack([torch.full((1, 8, 8), 0.1), torch.full((1, 8, 8), 0.01)])  # 20 dB and 40 dB
    quality = ImageQuality(crop=0)
    quality.update(denoised, denoised, clean, torch.tensor(1.0))
    quality.update(denoised[:1], denoised[:1], clean[:1], torch.tensor(4.0))
    values = quality.compute()
    assert float(values["psnr"]) == pytest.approx((20 + 40 + 20) / 3, abs=1e-3)
    assert float(values["loss"]) == pytest.approx((1.0 * 2 + 4.0 * 1) / 3)
    quality.reset()
    quality.update(denoised, denoised, clean, torch.tensor(2.0))
    assert float(quality.compute()["loss"]) == pytest.approx(2.0)


def test_identical_images_score_the_cap_so_that_a_mean_with_clean_inputs_stays_finite():
    # noise.clean leaves some inputs as they are: their PSNR was infinite, and so was the mean over the split
    clean = torch.rand(4, 1, 8, 8)
    noisy = clean.clone()
    noisy[:2] += 0.1  # 20 dB
    values = image_quality(clean, noisy, clean, crop=0)
    assert PSNR_CAP == pytest.approx(10 * math.log10(12 * 255**2))  # 8-bit rounding error: 58.92 dB
    assert values["noisy_psnr"] == pytest.approx((20 + 20 + 2 * PSNR_CAP) / 4, abs=1e-3)
    assert values["psnr"] == pytest.approx(PSNR_CAP)
