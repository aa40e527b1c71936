"""Denoise your own images: ``python -m dae.denoise run=<job folder> input=<image or folder> output=<folder>``.

Each grayscale image (PNG, JPEG, BMP, TIFF; colour is converted to gray) of any size is resized to
the digit area the model was trained on (28 x 28 for MNIST), padded to its input size (32 x 32) as in
training, denoised, cropped back and resized to its own size. The result is written into ``output``
under the same file name and format, and in the input's bit depth where the format stores it (16-bit
PNG and TIFF, 32-bit and float TIFF; otherwise 8-bit, as the log says). The models here learned white
digits on black: for dark strokes on a light background pass ``invert=true`` (inverted before, and
back after). A file that cannot be read is reported and skipped; the others are processed. Nothing is
written onto an input, and an existing result is replaced only with ``overwrite=true``.
"""

from __future__ import annotations

import logging
import sys
import warnings
from io import BytesIO
from pathlib import Path

import hydra
import numpy as np
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from PIL import Image, UnidentifiedImageError

from dae.cli import one_line_errors, prepare_argv
from dae.errors import ConfigError
from dae.files import write_atomic
from dae.jobs import load_job, target
from dae.loading import load

log = logging.getLogger(__name__)

SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}
# Pillow modes kept as they are (their own bit depth) rather than converted to 8-bit gray, with the
# full range of their pixel values, and the formats that can store them.
DEEP_MODES = {"I;16": 65535.0, "I;16B": 65535.0, "I;16L": 65535.0, "I;16N": 65535.0, "I": 65535.0, "F": 1.0}
WRITABLE = {"PNG": {"L", "I;16"}, "TIFF": {"L", "I;16", "I", "F"}, "JPEG": {"L"}, "BMP": {"L"}}


def inputs(path: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The image files to denoise: ``path`` itself, or those in the folder ``path`` (sorted); and the
    entries with an image suffix that are not files (folders, broken links), with why they are skipped."""
    if path.is_file():
        return [path], []
    if path.is_dir():
        named = sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES)
        skipped = [
            (p, "a folder, not an image" if p.is_dir() else "a broken link" if p.is_symlink() and not p.exists() else "not a regular file")
            for p in named
            if not p.is_file()
        ]
        return [p for p in named if p.is_file()], skipped
    what = "is a broken link" if path.is_symlink() else "does not exist"
    raise ConfigError(f"input={path} {what}; expected an image file or a folder of images ({', '.join(sorted(SUFFIXES))}).")


def destinations(files: list[Path], output: Path, overwrite: bool) -> list[Path]:
    """Where each result goes (``output/<name>``), checked before any work: never onto a file that is
    one of the inputs (through a link, a hard link or a ``..`` path), and never over an existing file
    unless ``overwrite``."""
    resolved = {f.resolve(): f for f in files}
    identities = {(st.st_dev, st.st_ino): f for f in files for st in [f.stat()]}
    targets = []
    for f in files:
        target = output / f.name
        same = resolved.get(target.resolve())
        if same is None and target.exists():
            st = target.stat()
            same = identities.get((st.st_dev, st.st_ino))
        if same is not None:
            raise ConfigError(
                f"output={output}: {target} is the input {same} (the same file): its result would replace it; choose another output folder."
            )
        if (target.exists() or target.is_symlink()) and not overwrite:
            raise ConfigError(
                f"output={output} already holds {target.name}; pass overwrite=true to replace it, or choose an empty output folder."
            )
        targets.append(target)
    return targets


def read_image(path: Path) -> tuple[np.ndarray, str, float, float]:
    """The image as float pixels in [0, 1], with the mode to write it back in and the range of values
    that [0, 1] stands for. 8-bit and colour images are converted to 8-bit gray; 16-bit, 32-bit integer
    and float images keep their depth and are scaled by their full range (16-bit: 0-65535, float: 0-1),
    or by their own minimum and maximum where their values lie outside it."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)  # over the limit: skipped, not decoded
        with Image.open(path) as image:
            image.load()
            if image.mode not in DEEP_MODES:
                return np.asarray(image.convert("L"), dtype=np.float32) / 255.0, "L", 0.0, 255.0
            mode = "I;16" if image.mode.startswith("I;16") else image.mode
            values = np.asarray(image, dtype=np.float64)
    finite = values[np.isfinite(values)]
    low, high = 0.0, DEEP_MODES[mode]
    if finite.size and (finite.min() < low or finite.max() > high):
        low, high = float(finite.min()), float(finite.max())
        log.info(
            "%s: %s values from %g to %g, outside %g-%g: scaled by their own range", path, image.mode, low, high, 0.0, DEEP_MODES[mode]
        )
    values = np.nan_to_num(values, nan=low, posinf=high, neginf=low)  # NaN as the bottom of the range, infinities as its ends
    return ((values - low) / max(high - low, 1e-12)).astype(np.float32), mode, low, high


def write_image(pixels: np.ndarray, path: Path, mode: str, low: float, high: float) -> str:
    """Write [0, 1] ``pixels`` to ``path`` in ``mode`` (scaled back to ``low``-``high``) where the file's
    format stores that mode, else as 8-bit gray; returns the mode written."""
    fmt = FORMATS.get(path.suffix.lower(), "PNG")
    if mode == "I" and "I" not in WRITABLE[fmt] and "I;16" in WRITABLE[fmt] and 0 <= low and high <= 65535:
        mode = "I;16"  # 16-bit values in a 32-bit image (how some readers open 16-bit PNGs)
    if mode not in WRITABLE[fmt]:
        log.info("%s: written as 8-bit: %s files cannot hold the input's %s pixels", path, fmt, mode)
        mode, low, high = "L", 0.0, 255.0
    values = low + np.clip(pixels, 0.0, 1.0) * (high - low)
    dtype = {"L": np.uint8, "I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]
    array = values.astype(np.float32) if mode == "F" else np.round(values).astype(dtype)
    buffer = BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)  # uint8: L, uint16: I;16, int32: I, float32: F
    write_atomic(path, buffer.getvalue())
    return mode


def denoise_files(denoiser, files: list[Path], targets: list[Path], invert: bool) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Denoise each file into its target with ``denoiser`` (:func:`dae.load`); return the written files
    and the skipped ones with why."""
    written, skipped = [], []
    for path, out in zip(files, targets):
        try:
            pixels, mode, low, high = read_image(path)
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            why = str(e).splitlines()[0] if str(e) else "unreadable"
            if isinstance(e, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
                why = f"larger than Pillow's decompression-bomb limit of {Image.MAX_IMAGE_PIXELS} pixels ({why})"
            skipped.append((path, f"{type(e).__name__}: {why}"))
            log.warning("%s: skipped (%s)", path, skipped[-1][1])
            continue
        write_image(denoiser(pixels, invert=invert), out, mode, low, high)
        written.append(out)
    return written, skipped


def run(cfg: DictConfig) -> tuple[list[Path], list[tuple[Path, str]]]:
    if not cfg.get("input") or not cfg.get("output"):
        raise ConfigError("input=<image or folder> and output=<folder> are both needed, e.g. input=scans/ output=scans_denoised/.")
    files, not_images = inputs(Path(cfg.input).expanduser())
    output = Path(cfg.output).expanduser()
    if output.exists() and not output.is_dir():
        raise ConfigError(f"output={output} is a file; expected a folder for the results (it is made if it does not exist).")
    targets = destinations(files, output, bool(cfg.get("overwrite", False)))
    job = load_job(target(cfg.run, cfg.ckpt, cfg.paths.log_dir))
    denoiser = load(job, cfg.ckpt)  # a bad run or checkpoint fails here, before any file is written
    if not files:
        raise ConfigError(f"input={cfg.input} holds no image files ({', '.join(sorted(SUFFIXES))}).")
    output.mkdir(parents=True, exist_ok=True)
    written, skipped = denoise_files(denoiser, files, targets, bool(cfg.invert))
    return written, not_images + skipped


@hydra.main(version_base="1.3", config_path="pkg://dae.conf", config_name="denoise")
def main(cfg: DictConfig) -> int:
    with one_line_errors(HydraConfig.get().runtime.output_dir):
        written, skipped = run(cfg)
    print(f"denoised {len(written)} image(s) into {Path(cfg.output).expanduser().resolve()}")
    for path, why in skipped:
        print(f"skipped {path}: {why}")
    if skipped and not written:
        raise SystemExit(1)
    return len(written)


if __name__ == "__main__":
    sys.argv = prepare_argv(sys.argv)
    main()
