"""Images as users hold them (numpy arrays, PIL images, torch tensors, or lists of them) to and from the
batches a denoiser takes: ``(N, 1, 28, 28)`` float tensors in [0, 1], gray, white strokes on black.

Each image is converted to gray and resized to the digit size (bilinear), and its result is resized back
to the image's own size (bicubic) and returned in its own type, shape and value range: 8-bit arrays and
images in 0-255, 16-bit in 0-65535, floats in [0, 1]; a colour PIL image comes back gray. Image files are read
and written here too (:func:`read_image`, :func:`write_image`), in their own bit depth where the format allows;
a file of several frames (an animated GIF or PNG, a multi-page TIFF) is refused, not cut to its first frame.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dae.errors import ConfigError
from dae.files import write_atomic

log = logging.getLogger(__name__)

FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF", ".gif": "GIF"}
# Pillow modes kept as they are (their own bit depth) rather than converted to 8-bit gray, with the
# full range of their pixel values, and the formats that can store them.
DEEP_MODES = {"I;16": 65535.0, "I;16B": 65535.0, "I;16L": 65535.0, "I;16N": 65535.0, "I": 65535.0, "F": 1.0}
WRITABLE = {"PNG": {"L", "I;16"}, "TIFF": {"L", "I;16", "I", "F"}, "JPEG": {"L"}, "BMP": {"L"}, "GIF": {"L"}}
# Formats whose files may hold several images, what such a file is called, and what its images are.
# (A JPEG's extra frames, MPO, are previews and depth maps: its first frame is the picture.)
SEVERAL_FRAMES = {"GIF": ("animated GIF", "frame"), "PNG": ("animated PNG", "frame"), "TIFF": ("multi-page TIFF", "page")}
# Integer pixel types and the value that stands for white.
INTEGER_RANGES = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


class FramesError(ValueError):
    """An image file that holds several images (an animated GIF or PNG, a multi-page TIFF): one of them
    alone is not the file, so none is taken."""


def resized(pixels: np.ndarray, size: tuple[int, int], resample: int) -> np.ndarray:
    """Float pixels resized to ``size`` (width, height) without leaving float; the same array if it has that size."""
    if (pixels.shape[1], pixels.shape[0]) == size:
        return pixels.astype(np.float32, copy=False)
    return np.array(Image.fromarray(pixels.astype(np.float32)).resize(size, resample), dtype=np.float32)


def image_pixels(image: Image.Image, name: str = "image") -> tuple[np.ndarray, str, float, float]:
    """A PIL image as float pixels in [0, 1], with the mode to write it back in and the range of values
    that [0, 1] stands for. 8-bit and colour images are converted to 8-bit gray; 16-bit, 32-bit integer
    and float images keep their depth and are scaled by their full range (16-bit: 0-65535, float: 0-1),
    or by their own minimum and maximum where their values lie outside it."""
    if image.mode not in DEEP_MODES:
        return np.asarray(image.convert("L"), dtype=np.float32) / 255.0, "L", 0.0, 255.0
    mode = "I;16" if image.mode.startswith("I;16") else image.mode
    values = np.asarray(image, dtype=np.float64)
    finite = values[np.isfinite(values)]
    low, high = 0.0, DEEP_MODES[mode]
    if finite.size and (finite.min() < low or finite.max() > high):
        low, high = float(finite.min()), float(finite.max())
        log.info(
            "%s: %s values from %g to %g, outside %g-%g: scaled by their own range", name, image.mode, low, high, 0.0, DEEP_MODES[mode]
        )
    values = np.nan_to_num(values, nan=low, posinf=high, neginf=low)  # NaN as the bottom of the range, infinities as its ends
    return ((values - low) / max(high - low, 1e-12)).astype(np.float32), mode, low, high


def from_pixels(pixels: np.ndarray, mode: str, low: float, high: float) -> Image.Image:
    """[0, 1] ``pixels`` as a PIL image in ``mode``, scaled back to ``low``-``high`` (the inverse of :func:`image_pixels`)."""
    values = low + np.clip(pixels, 0.0, 1.0) * (high - low)
    dtype = {"L": np.uint8, "I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]
    return Image.fromarray(
        values.astype(np.float32) if mode == "F" else np.round(values).astype(dtype)
    )  # uint8: L, uint16: I;16, int32: I, float32: F


def read_image(path: Path) -> tuple[np.ndarray, str, float, float]:
    """An image file's pixels, as :func:`image_pixels` gives them; an image over Pillow's decompression-bomb
    limit raises before it is decoded, and a file of several frames raises :class:`FramesError`."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)  # over the limit: refused, not decoded
        with Image.open(path) as image:
            check_one_frame(image)
            image.load()
            return image_pixels(image, str(path))


def check_one_frame(image: Image.Image) -> None:
    """:class:`FramesError` if ``image`` (an opened file) holds several frames, saying how many and what to do."""
    kind, unit = SEVERAL_FRAMES.get(image.format, (None, "frame"))
    frames = getattr(image, "n_frames", 1) if kind else 1
    if frames > 1:
        raise FramesError(f"{kind} ({frames} {unit}s): not supported; save the {unit} you want as PNG")


def write_image(pixels: np.ndarray, path: Path, mode: str, low: float, high: float) -> str:
    """Write [0, 1] ``pixels`` to ``path`` in ``mode`` (scaled back to ``low``-``high``) where the file's
    format stores that mode, else as 8-bit gray; returns the mode written. Written whole or not at all."""
    fmt = FORMATS.get(path.suffix.lower(), "PNG")
    if mode == "I" and "I" not in WRITABLE[fmt] and "I;16" in WRITABLE[fmt] and 0 <= low and high <= 65535:
        mode = "I;16"  # 16-bit values in a 32-bit image (how some readers open 16-bit PNGs)
    if mode not in WRITABLE[fmt]:
        log.info("%s: written as 8-bit: %s files cannot hold the input's %s pixels", path, fmt, mode)
        mode, low, high = "L", 0.0, 255.0
    buffer = BytesIO()
    from_pixels(pixels, mode, low, high).save(buffer, format=fmt)
    write_atomic(path, buffer.getvalue())
    return mode


def _planes(image) -> tuple[list[np.ndarray], Callable[[list[np.ndarray]], object]]:
    """``image`` as 2-D float planes in [0, 1], and the function that turns results back into its type."""
    if isinstance(image, Image.Image):
        pixels, mode, low, high = image_pixels(image)  # the same pixels python -m dae.denoise reads from a file
        return [pixels], lambda out: from_pixels(out[0], mode, low, high)
    if isinstance(image, torch.Tensor):
        t = image.detach().cpu()
        if t.dtype != torch.uint8 and not t.is_floating_point():
            raise ConfigError(f"a tensor of {t.dtype} pixels cannot be denoised; expected uint8 (0-255) or floats in [0, 1].")
        planes, back = _planes(t.numpy() if t.dtype == torch.uint8 else t.float().numpy())
        return planes, lambda out: torch.as_tensor(back(out)).to(image.device, image.dtype)
    if isinstance(image, np.ndarray):
        return _array_planes(image)
    raise ConfigError(
        f"a {type(image).__name__} cannot be denoised; expected a numpy array, a PIL image, a torch tensor, or a list of them."
    )


def _array_planes(array: np.ndarray) -> tuple[list[np.ndarray], Callable[[list[np.ndarray]], object]]:
    """A gray array, ``(H, W)``, ``(N, H, W)`` or ``(N, 1, H, W)``, of 8-bit, 16-bit or [0, 1] float pixels, as planes."""
    if array.dtype in INTEGER_RANGES:
        top = INTEGER_RANGES[array.dtype]
    elif np.issubdtype(array.dtype, np.floating):
        top = 1.0
    else:
        raise ConfigError(
            f"an array of {array.dtype} pixels cannot be denoised; expected uint8 (0-255), uint16 (0-65535) or floats in [0, 1]: "
            "convert it, e.g. with .astype(np.uint8)."
        )
    if array.ndim == 3 and array.shape[-1] in (1, 3, 4):
        raise ConfigError(
            f"an array of shape {array.shape} looks like a colour image (H, W, channels); convert it to gray (H, W) first, e.g. PIL's .convert('L')."
        )
    if array.ndim not in (2, 3) and not (array.ndim == 4 and array.shape[1] == 1):
        raise ConfigError(f"an array of shape {array.shape} cannot be denoised; expected gray images: (H, W), (N, H, W) or (N, 1, H, W).")
    stack = array.reshape(-1, *array.shape[-2:])
    if len(stack) == 0 or 0 in stack.shape[1:]:
        raise ConfigError(f"an array of shape {array.shape} holds no image; expected at least one.")
    finite = stack[np.isfinite(stack)] if top == 1.0 else stack
    if top == 1.0 and finite.size and (finite.min() < -1e-3 or finite.max() > 1 + 1e-3):
        raise ConfigError(
            f"float pixels must be in [0, 1]; these range from {finite.min():g} to {finite.max():g}: divide 8-bit values by 255 first."
        )
    planes = [np.nan_to_num(p.astype(np.float32) / top, nan=0.0).clip(0, 1) for p in stack]

    def back(out: list[np.ndarray]) -> np.ndarray:
        values = np.stack(out).reshape(array.shape) * top
        return values.astype(array.dtype) if top == 1.0 else np.round(values).clip(0, top).astype(array.dtype)

    return planes, back


def to_batch(images, digit_size: int, invert: bool = False) -> tuple[torch.Tensor, Callable[[torch.Tensor], object]]:
    """``images`` (one image, a batch, or a list or tuple of them) as one ``(N, 1, digit_size, digit_size)``
    batch in [0, 1], inverted if ``invert`` (for dark strokes on a light background); and the function
    that turns the batch's results back into the type, shape, size and value range of ``images``."""
    single = not isinstance(images, (list, tuple))
    items = [images] if single else list(images)
    if not items:
        raise ConfigError("no images given; expected an image or a non-empty list of them.")
    converted = [_planes(item) for item in items]
    planes = [p for ps, _ in converted for p in ps]
    small = np.stack([resized(p, (digit_size, digit_size), Image.BILINEAR) for p in planes])
    batch = torch.from_numpy(1.0 - small if invert else small).unsqueeze(1)

    def restore(out: torch.Tensor) -> object:
        results = out.detach().float().cpu().numpy()[:, 0]
        if invert:
            results = 1.0 - results
        full = [resized(r, (p.shape[1], p.shape[0]), Image.BICUBIC).clip(0, 1) for r, p in zip(results, planes)]
        restored, start = [], 0
        for ps, back in converted:
            restored.append(back(full[start : start + len(ps)]))
            start += len(ps)
        return restored[0] if single else type(images)(restored)

    return batch, restore
