"""MNIST-C's fifteen corruptions (Mu and Gilmer, 2019, "MNIST-C: A Robustness Benchmark for Computer
Vision"), written here from the paper's description, each at the severity of the published dataset.

Each takes 28 x 28 digits as a float array ``(N, 28, 28)`` in [0, 1] and a ``numpy.random.Generator``,
and returns the corrupted digits, the same shape, in [0, 1]. Whole batches are corrupted at once; where
the paper's procedure is sequential (glass blur's pixel swaps, fog's fractal), the loop runs over
pixels or scales, never over images.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

CENTRE = 13.5  # the centre of a 28 x 28 digit, about which the affine corruptions turn, shear and scale


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of each image (not across images), edges extended."""
    return ndimage.gaussian_filter(x, sigma=(0, sigma, sigma), mode="nearest", truncate=4.0)


def _sample(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``x`` read at fractional pixel positions ``(rows, cols)`` of shape ``(N, H, W)``, bilinearly;
    0 outside the image."""
    n, h, w = x.shape
    grid = np.stack([cols / (w - 1) * 2 - 1, rows / (h - 1) * 2 - 1], axis=-1)  # grid_sample's [-1, 1], x first
    out = F.grid_sample(
        torch.from_numpy(x[:, None].astype(np.float32)),
        torch.from_numpy(grid.astype(np.float32)),
        mode="bilinear",
        padding_mode="zeros",
        align_corners=True,
    )
    return out[:, 0].numpy().astype(x.dtype)


def _affine(x: np.ndarray, matrices: np.ndarray, shifts: np.ndarray | None = None) -> np.ndarray:
    """Each output pixel ``p`` (column, row) reads the input at ``A (p - c) + c + t``: ``matrices`` ``(N, 2, 2)``
    per image, ``shifts`` ``(N, 2)``; ``c`` is the digit's centre."""
    n, h, w = x.shape
    rows, cols = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    p = np.stack([cols - CENTRE, rows - CENTRE])  # (2, H, W)
    src = np.einsum("nij,jhw->nihw", matrices, p) + CENTRE
    if shifts is not None:
        src = src + shifts[:, :, None, None]
    return _sample(x, src[:, 1], src[:, 0])


def _signs(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice(np.array([-1.0, 1.0]), size=n)


# ----------------------------------------------------------------------------- noise


def shot_noise(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Photon counting at 3 photons for a white pixel: ``Poisson(3 x) / 3``."""
    return np.clip(rng.poisson(x * 3.0) / 3.0, 0, 1)


def impulse_noise(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Salt and pepper: 17% of the pixels replaced, half by 1 and half by 0."""
    hit = rng.random(x.shape) < 0.17
    salt = rng.random(x.shape) < 0.5
    return np.where(hit, salt.astype(x.dtype), x)


# ----------------------------------------------------------------------------- blur


def glass_blur(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Frosted glass: blur (sigma 0.7), then, twice over, swap each pixel with a neighbour up to one pixel
    up or left, with probability 1/2, sweeping from the bottom-right corner; then blur again."""
    n, h, w = x.shape
    y = np.round(_blur(x, 0.7) * 255) / 255  # the paper's procedure passes through 8-bit pixels here
    images = np.arange(n)
    for _ in range(2):
        for r in range(h - 1, 1, -1):
            for c in range(w - 1, 1, -1):
                swap = images[rng.random(n) < 0.5]
                dr, dc = rng.integers(-1, 1, size=(2, len(swap)))  # -1 or 0
                here, there = y[swap, r, c], y[swap, r + dr, c + dc]
                y[swap, r, c], y[swap, r + dr, c + dc] = there, here
    return np.clip(_blur(y, 0.7), 0, 1)


def motion_blur(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A moving camera: each pixel averages the pixels up to 10 behind it along a direction drawn from
    -45 to 45 degrees, with Gaussian weights (sigma 3) that fade with distance."""
    n = len(x)
    angle = np.deg2rad(rng.uniform(-45, 45, size=n))[:, None, None]
    weights = np.exp(-(np.arange(11) ** 2) / (2 * 3.0**2))
    weights /= weights.sum()
    h, w = x.shape[1:]
    rows, cols = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    out = np.zeros_like(x)
    for step, weight in enumerate(weights):
        out += weight * _sample(x, rows - step * np.sin(angle), cols - step * np.cos(angle))
    return np.clip(out, 0, 1)


# ----------------------------------------------------------------------------- geometry (the digit moves)


def shear(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A shear of 0.4 radians, to the left or right, about the centre."""
    a = 0.4 * _signs(rng, len(x))
    m = np.zeros((len(x), 2, 2))
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 1] = 1.0, -np.sin(a), np.cos(a)
    return np.clip(_affine(x, m), 0, 1)


def scale(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The digit shrunk to 0.7 of its size, about the centre."""
    m = np.tile(np.eye(2) / 0.7, (len(x), 1, 1))
    return np.clip(_affine(x, m), 0, 1)


def rotate(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A rotation of 0.4 radians (23 degrees), either way, about the centre."""
    a = 0.4 * _signs(rng, len(x))
    m = np.stack([np.stack([np.cos(a), -np.sin(a)], -1), np.stack([np.sin(a), np.cos(a)], -1)], 1)
    return np.clip(_affine(x, m), 0, 1)


def translate(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The digit moved by 3 pixels along each axis, in a direction drawn per image."""
    shifts = 3.0 * np.stack([_signs(rng, len(x)), _signs(rng, len(x))], -1)
    return np.clip(_affine(x, np.tile(np.eye(2), (len(x), 1, 1)), shifts), 0, 1)


# ----------------------------------------------------------------------------- light and veils


def brightness(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brighter by half the white level: a grey background (the value of HSV raised by 0.5)."""
    return np.clip(x + 0.5, 0, 1)


def stripe(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The 7 columns at each side inverted."""
    y = x.copy()
    y[:, :, :7] = 1 - y[:, :, :7]
    y[:, :, 21:] = 1 - y[:, :, 21:]
    return y


def plasma(n: int, rng: np.random.Generator, size: int = 256, decay: float = 1.4) -> np.ndarray:
    """``n`` fractal height maps ``(n, size, size)`` in [0, 1], by the diamond-square algorithm: at each
    halving of the step, new points are the mean of their neighbours plus a random offset whose scale
    shrinks by ``decay``; each map is then stretched to [0, 1]."""
    maps = np.zeros((n, size, size), dtype=np.float32)
    step, wibble = size, 100.0
    while step >= 2:
        half = step // 2
        corners = maps[:, 0:size:step, 0:size:step]
        # squares: each centre from its four corners (wrapping around)
        around = corners + np.roll(corners, -1, axis=1)
        around = around + np.roll(around, -1, axis=2)
        maps[:, half:size:step, half:size:step] = around / 4 + wibble * rng.uniform(-wibble, wibble, around.shape)
        # diamonds: each edge midpoint from its two corners and two centres
        centres = maps[:, half:size:step, half:size:step]
        corners = maps[:, 0:size:step, 0:size:step]
        row_sum = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=2)
        maps[:, 0:size:step, half:size:step] = row_sum / 4 + wibble * rng.uniform(-wibble, wibble, row_sum.shape)
        col_sum = centres + np.roll(centres, 1, axis=2) + corners + np.roll(corners, -1, axis=1)
        maps[:, half:size:step, 0:size:step] = col_sum / 4 + wibble * rng.uniform(-wibble, wibble, col_sum.shape)
        step, wibble = half, wibble / decay
    maps -= maps.min(axis=(1, 2), keepdims=True)
    return maps / maps.max(axis=(1, 2), keepdims=True)


def fog(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Fog: three times a fractal veil (the corner of a 256 x 256 plasma map) added, then the image scaled
    back so that its brightest stroke keeps its place: the digit keeps a quarter of its contrast."""
    out = np.empty_like(x)
    h, w = x.shape[1:]
    for start in range(0, len(x), 256):  # the maps are large: a few hundred at a time
        part = x[start : start + 256]
        peak = part.max(axis=(1, 2), keepdims=True)
        veil = plasma(len(part), rng)[:, :h, :w]
        out[start : start + 256] = np.clip((part + 3.0 * veil) * peak / (peak + 3.0), 0, 1)
    return out


def spatter(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mud: smooth random blobs (a blurred Gaussian field above its mean, blurred again and kept where
    it is dense) painted dark grey (63 / 255) over the digit."""
    liquid = _blur(rng.normal(0.65, 0.3, size=x.shape), 1.0)
    liquid[liquid < 0.65] = 0
    mud = _blur((liquid > 0.65).astype(np.float64), 1.5)
    mud[mud < 0.8] = 0
    return np.clip(x * (1 - mud) + 63 / 255 * mud, 0, 1)


# ----------------------------------------------------------------------------- strokes over the digit


def _line(c0: np.ndarray, r0: np.ndarray, c1: np.ndarray, r1: np.ndarray, size: int = 28) -> np.ndarray:
    """Anti-aliased lines ``(N, size, size)`` from ``(c0, r0)`` to ``(c1, r1)`` (column, row), one per image:
    brightness ``1 + log(1 - d / 2.3)`` at vertical distance ``d`` from the line, clipped to [0, 1], and
    nothing left of column ``floor(c0)`` or from column ``ceil(c1)`` on."""
    rows = np.arange(size, dtype=np.float64).reshape(1, size, 1)
    cols = np.arange(size, dtype=np.float64).reshape(1, 1, size)
    c0, r0, c1, r1 = (np.asarray(v, dtype=np.float64).reshape(-1, 1, 1) for v in (c0, r0, c1, r1))
    slope = (r1 - r0) / np.where(c1 == c0, 1.0, c1 - c0)
    distance = np.clip(np.abs(rows - (slope * (cols - c0) + r0)), 0, 2.3 - 1e-10)
    line = np.clip(np.log(1 - distance / 2.3) + 1, 0, 1)
    line = line * ((cols >= np.floor(c0)) & (cols < np.ceil(c1))) * (c1 != c0)
    return line


def dotted_line(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A dotted line across the image, between two random heights at the left and right edges: dashes
    two columns long, two apart."""
    n = len(x)
    r0, r1 = rng.integers(0, 27, size=(2, n))
    line = _line(np.zeros(n), r0, np.full(n, 27.0), r1)
    cols = np.arange(28)
    line[:, :, (cols // 2) % 2 == 0] = 0  # columns 0-1 off, 2-3 on, ...
    return np.clip(x + line, 0, 1)


def zigzag(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A zigzag from column 2 to 25 at a random height and a slight random slope: teeth two pixels long
    and two high."""
    n = len(x)
    out = x.copy()
    c0, c1 = 2.0, 25.0
    r0 = rng.integers(0, 27, size=n).astype(np.float64)
    r1 = r0 + rng.integers(-5, 5, size=n)
    for i in range(n):
        theta = math.atan((r1[i] - r0[i]) / (c1 - c0))
        length = (c1 - c0) / math.cos(theta)
        points = [(0.0, 0.0)]  # along the line, across it
        k = 0
        while (2 * k + 1) * 2.0 <= length:
            points.append(((2 * k + 1) * 2.0, (-1) ** k * 2.0))
            k += 1
        points.append((length, 0.0))
        along, across = np.array(points).T
        cs = c0 + along * math.cos(theta) - across * math.sin(theta)
        rs = r0[i] + along * math.sin(theta) + across * math.cos(theta)
        segments = _line(cs[:-1], rs[:-1], cs[1:], rs[1:])
        for segment in segments:
            out[i] = np.clip(out[i] + segment, 0, 1)
    return out


def canny_edges(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Only the outline of the strokes: Canny's edge detector (scikit-image's, its default settings)."""
    from skimage.feature import canny

    return np.stack([canny(image) for image in x]).astype(x.dtype)


CORRUPTIONS = {
    f.__name__: f
    for f in (
        shot_noise,
        impulse_noise,
        glass_blur,
        motion_blur,
        shear,
        scale,
        rotate,
        brightness,
        translate,
        stripe,
        fog,
        spatter,
        dotted_line,
        zigzag,
        canny_edges,
    )
}
# They move the digit: no pixel-wise comparison with the clean digit means anything; accuracy only.
MOVING = ("shear", "scale", "rotate", "translate")
