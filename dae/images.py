"""Images as users hold them (numpy arrays, PIL images, torch tensors, or lists of them) to and from the
batches a denoiser takes: ``(N, 1, 28, 28)`` float tensors in [0, 1], gray, white strokes on black.

Each image is converted to gray and resized to the digit size (bilinear), and its result is resized back
to the image's own size (bicubic) and returned in its own type, shape and value range: 8-bit arrays and
images in 0-255, 16-bit in 0-65535, floats in [0, 1]; a colour PIL image comes back gray.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from PIL import Image

from dae.errors import ConfigError

# Integer pixel types and the value that stands for white.
INTEGER_RANGES = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}
PIL_DEEP = {"I;16": np.uint16, "I;16B": np.uint16, "I;16L": np.uint16, "I;16N": np.uint16, "F": np.float32}


def resized(pixels: np.ndarray, size: tuple[int, int], resample: int) -> np.ndarray:
    """Float pixels resized to ``size`` (width, height) without leaving float; the same array if it has that size."""
    if (pixels.shape[1], pixels.shape[0]) == size:
        return pixels.astype(np.float32, copy=False)
    return np.array(Image.fromarray(pixels.astype(np.float32)).resize(size, resample), dtype=np.float32)


def _planes(image) -> tuple[list[np.ndarray], Callable[[list[np.ndarray]], object]]:
    """``image`` as 2-D float planes in [0, 1], and the function that turns results back into its type."""
    if isinstance(image, Image.Image):
        mode = image.mode if image.mode in PIL_DEEP else "L"
        dtype = PIL_DEEP.get(mode, np.uint8)
        pixels = np.asarray(image if mode != "L" else image.convert("L"))
        planes, back = _planes(pixels.astype(dtype))
        return planes, lambda out: Image.fromarray(back(out))  # uint8: L, uint16: I;16, float32: F
    if isinstance(image, torch.Tensor):
        planes, back = _planes(image.detach().cpu().float().numpy())
        return planes, lambda out: torch.as_tensor(back(out)).to(image.device, image.dtype)
    if isinstance(image, np.ndarray):
        array = image
        if array.dtype in INTEGER_RANGES:
            top, dtype = INTEGER_RANGES[array.dtype], array.dtype
        elif np.issubdtype(array.dtype, np.floating):
            top, dtype = 1.0, array.dtype
        else:
            raise ConfigError(f"an array of {array.dtype} pixels cannot be denoised; expected uint8, uint16 or float in [0, 1].")
        if array.ndim == 2:
            stack = array[None]
        elif array.ndim == 3 or (array.ndim == 4 and array.shape[1] == 1):
            stack = array.reshape(-1, *array.shape[-2:])
        else:
            raise ConfigError(
                f"an array of shape {array.shape} cannot be denoised; expected gray images: (H, W), (N, H, W) or (N, 1, H, W)."
            )
        planes = [np.nan_to_num(p.astype(np.float32) / top, nan=0.0).clip(0, 1) for p in stack]

        def back(out: list[np.ndarray]) -> np.ndarray:
            values = np.stack(out).reshape(array.shape) * top
            return values.astype(dtype) if top == 1.0 else np.round(values).clip(0, top).astype(dtype)

        return planes, back
    raise ConfigError(
        f"a {type(image).__name__} cannot be denoised; expected a numpy array, a PIL image, a torch tensor, or a list of them."
    )


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
