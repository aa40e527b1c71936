"""Classical denoisers (median, Gaussian, non-local means, total variation, wavelet, BM3D), run in
parallel chunks and tuned on validation images: what ``python -m dae.baselines`` compares the
autoencoders with. Non-local means, total variation and wavelet need scikit-image, and BM3D the bm3d
package: the ``baselines`` extra (``pip install -e ".[baselines]"``).
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import time
from collections.abc import Callable, Sequence

import numpy as np
from joblib import Parallel, delayed

from dae.errors import ConfigError

# ----------------------------------------------------------------------------- the methods
# Each takes float images (N, H, W) in [0, 1] and returns denoised images of the same shape.


def identity(x: np.ndarray) -> np.ndarray:
    return x


def median(x: np.ndarray, size: int) -> np.ndarray:
    from scipy import ndimage

    return ndimage.median_filter(x, size=(1, size, size), mode="reflect")


def gaussian(x: np.ndarray, sigma: float) -> np.ndarray:
    from scipy import ndimage

    return ndimage.gaussian_filter(x, sigma=(0, sigma, sigma), mode="reflect")


def nl_means(x: np.ndarray, h: float, patch_size: int = 5, patch_distance: int = 6) -> np.ndarray:
    from skimage.restoration import denoise_nl_means

    return np.stack([denoise_nl_means(im, h=h, patch_size=patch_size, patch_distance=patch_distance, fast_mode=True) for im in x])


def total_variation(x: np.ndarray, weight: float) -> np.ndarray:
    from skimage.restoration import denoise_tv_chambolle

    return np.stack([denoise_tv_chambolle(im, weight=weight) for im in x])


def wavelet(x: np.ndarray, sigma: float) -> np.ndarray:
    from skimage.restoration import denoise_wavelet

    return np.stack([denoise_wavelet(im, sigma=sigma, rescale_sigma=True) for im in x])


def bm3d(x: np.ndarray, sigma_psd: float, columns: int = 10) -> np.ndarray:
    """BM3D on mosaics of ``columns`` x ``columns`` images: a call spends most of its time setting up,
    so one call per mosaic is many times faster than one per image. Its block matching then also searches
    the neighbouring digits of the mosaic."""
    import bm3d as bm3d_package

    n, h, w = x.shape
    per = columns * columns
    out = np.empty_like(x)
    for start in range(0, n, per):
        tiles = x[start : start + per]
        rows = math.ceil(len(tiles) / columns)
        padded = np.zeros((rows * columns, h, w), dtype=x.dtype)
        padded[: len(tiles)] = tiles
        mosaic = padded.reshape(rows, columns, h, w).transpose(0, 2, 1, 3).reshape(rows * h, columns * w)
        result = np.asarray(bm3d_package.bm3d(mosaic, sigma_psd), dtype=x.dtype)
        out[start : start + len(tiles)] = result.reshape(rows, h, columns, w).transpose(0, 2, 1, 3).reshape(-1, h, w)[: len(tiles)]
    return out


METHODS: dict[str, Callable[..., np.ndarray]] = {
    "identity": identity,
    "median": median,
    "gaussian": gaussian,
    "nl_means": nl_means,
    "total_variation": total_variation,
    "wavelet": wavelet,
    "bm3d": bm3d,
}

# ----------------------------------------------------------------------------- running and tuning


def zero_threshold(x: np.ndarray, t: float) -> np.ndarray:
    """Pixels below ``t`` set to 0 (``t = 0`` leaves the images as they are)."""
    return np.where(x < t, 0.0, x).astype(x.dtype) if t > 0 else x


def psnr(x: np.ndarray, clean: np.ndarray, crop: int) -> float:
    """Mean per-image PSNR over the area inside ``crop`` pixels of the border, each at most 58.92 dB (as the
    autoencoder's: :func:`dae.metrics.psnr`)."""
    from dae.metrics import MSE_FLOOR  # here, not at the top: the worker processes import this module and need no torch

    c = (slice(None), slice(crop, x.shape[1] - crop), slice(crop, x.shape[2] - crop))
    mse = ((x[c] - clean[c]) ** 2).reshape(len(x), -1).mean(1)
    return float(np.mean(10 * np.log10(1.0 / np.maximum(mse, MSE_FLOOR))))


def _chunk(name: str, params: dict, images: np.ndarray) -> tuple[np.ndarray, float]:
    start = time.process_time()
    out = np.clip(METHODS[name](images, **params), 0.0, 1.0).astype(np.float32)
    return out, time.process_time() - start


def run_method(name: str, params: dict, images: np.ndarray, workers: int, chunk: int = 100) -> tuple[np.ndarray, float]:
    """``name`` with ``params`` on ``images`` (N, H, W), in chunks over ``workers`` processes.
    Returns the denoised images and the CPU seconds per image (summed over the workers)."""
    chunks = [images[i : i + chunk] for i in range(0, len(images), chunk)]
    results = Parallel(n_jobs=min(workers, len(chunks)))(delayed(_chunk)(name, params, c) for c in chunks)
    return np.concatenate([r[0] for r in results]), sum(r[1] for r in results) / len(images)


def grid(values: dict) -> list[dict]:
    """Every combination of a method's parameter values: ``{a: [1, 2], b: [3]}`` -> ``[{a: 1, b: 3}, {a: 2, b: 3}]``."""
    keys = list(values)
    lists = [v if isinstance(v, Sequence) and not isinstance(v, str) else [v] for v in values.values()]
    return [dict(zip(keys, combo)) for combo in itertools.product(*lists)]


def tune(name: str, values: dict, thresholds: Sequence[float], noisy: np.ndarray, clean: np.ndarray, crop: int, workers: int) -> dict:
    """The best parameters on validation images, alone and with a zero-threshold step:
    ``{"plain": (params, psnr), "threshold": (params, t, psnr)}``."""
    plain, thresholded = (None, -math.inf), (None, 0.0, -math.inf)
    for params in grid(values):
        out, _ = run_method(name, params, noisy, workers)
        for t in sorted({0.0, *map(float, thresholds)}):
            score = psnr(zero_threshold(out, t), clean, crop)
            if t == 0.0 and score > plain[1]:
                plain = (params, score)
            if score > thresholded[2]:
                thresholded = (params, t, score)
    return {"plain": plain, "threshold": thresholded}


# The packages each method needs beyond the base install.
NEEDS = {"nl_means": "skimage", "total_variation": "skimage", "wavelet": "skimage", "bm3d": "bm3d"}


def check_installed(methods: Sequence[str]) -> None:
    """A :class:`ConfigError` naming the extra to install if a package that ``methods`` need is missing."""
    missing = sorted({NEEDS[m] for m in methods if m in NEEDS and importlib.util.find_spec(NEEDS[m]) is None})
    if missing:
        users = sorted(m for m in methods if NEEDS.get(m) in missing)
        raise ConfigError(
            f"methods {users} need {', '.join(missing)}, which the base install leaves out: "
            f'pip install -e ".[baselines]" (or pip install "dae[baselines]"), or drop them with ~methods.<name>.'
        )
