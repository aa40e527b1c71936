"""dae.baselines: each classical method on a few fixture images, the tuning, and the app's tables."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from dae.baselines import baselines
from dae.classical import METHODS, grid, psnr, tune, zero_threshold
from dae.errors import ConfigError
from dae.noise import Gaussian
from tests.conftest import compose_app, draw_digits, fixture_overrides

PARAMS = {
    "identity": {},
    "median": {"size": 3},
    "gaussian": {"sigma": 0.75},
    "nl_means": {"h": 0.2},
    "total_variation": {"weight": 0.2},
    "wavelet": {"sigma": 0.2},
    "bm3d": {"sigma_psd": 0.3},
}


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """Twelve fixture digits, clean and under gaussian noise (sigma 0.3), as (N, 28, 28) floats."""
    clean = torch.from_numpy(draw_digits(12, seed=5)[0]).float().div(255).unsqueeze(1)
    noisy = Gaussian(0.3)(clean, torch.Generator().manual_seed(0))
    return noisy[:, 0].numpy(), clean[:, 0].numpy()


def test_every_method_has_test_parameters():
    assert set(PARAMS) == set(METHODS)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_method_keeps_shape_and_order_and_removes_noise(name, digits):
    noisy, clean = digits
    out = np.clip(METHODS[name](noisy, **PARAMS[name]), 0, 1)
    assert out.shape == noisy.shape
    if name == "identity":
        assert np.array_equal(out, noisy)
        return
    assert psnr(out, clean, crop=0) > psnr(noisy, clean, crop=0) + 1.0
    # each output is still its own digit (BM3D works on mosaics: the images must come back in order)
    corr = np.corrcoef(out.reshape(len(out), -1), clean.reshape(len(clean), -1))[: len(out), len(out) :]
    assert np.array_equal(corr.argmax(1), np.arange(len(out)))


def test_the_worker_processes_import_no_torch():
    # each joblib worker imports dae.classical to run its chunk: torch would add seconds to its start
    check = "import sys, dae.classical; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_zero_threshold_and_grid():
    x = np.array([[[0.05, 0.2], [0.5, 0.9]]], dtype=np.float32)
    assert np.array_equal(zero_threshold(x, 0.3), np.array([[[0, 0], [0.5, 0.9]]], dtype=np.float32))
    assert zero_threshold(x, 0.0) is x
    assert grid({"a": [1, 2], "b": 3}) == [{"a": 1, "b": 3}, {"a": 2, "b": 3}]
    assert grid({}) == [{}]


def test_tuning_picks_the_best_validation_psnr(digits):
    noisy, clean = digits
    best = tune("gaussian", {"sigma": [0.1, 0.75, 3.0]}, [0.2, 0.4], noisy, clean, crop=0, workers=1)
    params, score = best["plain"]
    assert params == {"sigma": 0.75}
    assert score == pytest.approx(psnr(np.clip(METHODS["gaussian"](noisy, sigma=0.75), 0, 1), clean, 0), abs=1e-4)
    t_params, t, t_score = best["threshold"]
    assert t in (0.2, 0.4) and t_score > score  # the zero-threshold step gains on a black background


@pytest.mark.slow  # BM3D and the other methods on four noises
def test_app_writes_tables_per_noise_with_the_autoencoder(fixture_data, job, tmp_path):
    data = [o for o in fixture_overrides(*fixture_data) if not o.startswith("trainer.")]
    cfg = compose_app(
        "baselines",
        [
            *data,
            "n_val=30",
            "n_test=20",
            "workers=1",
            f"runs=[{job}]",
            "~methods.nl_means",
            "~methods.total_variation",
            "~methods.wavelet",
            "~methods.gaussian",
            "methods.bm3d.sigma_psd=[0.3]",
            "methods.median.size=[3]",
        ],
    )
    rows = baselines(cfg, tmp_path)
    with open(tmp_path / "baselines.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == len(rows) == 4 * 3 * 2 + 1  # 4 noises x 3 methods x (alone, with threshold) + the autoencoder
    assert {r["noise"] for r in table} == {"gaussian", "salt_pepper", "speckle", "periodic"}
    for noise in ("gaussian", "salt_pepper"):  # a tuned method beats the noisy input itself (speckle barely touches the fixture's digits)
        psnr = {
            r["method"]: float(r["psnr"])
            for r in table
            if r["noise"] == noise and " + " not in r["method"] and "autoencoder" not in r["method"]
        }
        assert max(v for m, v in psnr.items() if m != "identity") > psnr["identity"] + 1, (noise, psnr)
    for r in table:
        assert float(r["ms_per_image"]) >= 0
        json.loads(r["params"] or "{}")
    (auto,) = [r for r in table if r["method"].startswith("autoencoder")]
    assert auto["noise"] == "gaussian"  # the job was trained on gaussian noise: it joins that table only
    identity = {r["noise"]: float(r["psnr"]) for r in table if r["method"] == "identity"}
    assert all(float(r["psnr"]) >= identity[r["noise"]] - 3 for r in table)
    text = (tmp_path / "baselines.md").read_text()
    assert "## periodic" in text and "Best autoencoder" in text and "bm3d + zero-threshold" in text
    assert json.loads((tmp_path / "baselines.json").read_text())["n_test"] == 20


def test_unknown_method_is_refused_before_work(tmp_path):
    cfg = compose_app("baselines", ["+methods.deep_magic={}"])
    with pytest.raises(ConfigError, match=r"unknown \['deep_magic'\]; known: \['bm3d', 'gaussian', 'identity'"):
        baselines(cfg, tmp_path)
    assert not list(tmp_path.iterdir())


def test_methods_of_the_baselines_extra_name_it_when_it_is_missing(monkeypatch):
    """Without scikit-image and bm3d (the base install), python -m dae.baselines says which extra to install."""
    import importlib.util

    from dae.classical import check_installed

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in ("skimage", "bm3d") else real(name, *a))
    check_installed(["identity", "median", "gaussian"])  # scipy's filters need no extra
    with pytest.raises(ConfigError, match=r"methods \['bm3d', 'wavelet'\] need bm3d, skimage, .*pip install -e \"\.\[baselines\]\""):
        check_installed(["median", "wavelet", "bm3d"])
