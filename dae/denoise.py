"""Denoise your own images: ``python -m dae.denoise run=<job folder> input=<image or folder> output=<folder>``.

Each grayscale image (PNG, JPEG, BMP, TIFF; colour is converted to gray) of any size is resized to
the digit area the model was trained on (28 x 28 for MNIST), padded to its input size (32 x 32) as in
training, denoised, cropped back and resized to its own size. The result is written into ``output``
under the same file name and format. The models here learned white digits on black: for dark
strokes on a light background pass ``invert=true`` (inverted before, and back after). A file that
cannot be read is reported and skipped; the others are processed.
"""

from __future__ import annotations

import logging
import sys
from io import BytesIO
from pathlib import Path

import hydra
import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from PIL import Image, UnidentifiedImageError

from dae.files import write_atomic
from dae.inference import denoise
from dae.jobs import JobError, load_job, load_model, quote_path_overrides, target

log = logging.getLogger(__name__)

SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}


def inputs(path: Path) -> list[Path]:
    """The image files to denoise: ``path`` itself, or the image files in the folder ``path`` (sorted)."""
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    raise JobError(f"input={path} does not exist; expected an image file or a folder of images ({', '.join(sorted(SUFFIXES))}).")


def check_output(output: Path, files: list[Path]) -> None:
    """Never write over an input: the output folder must not hold any of them."""
    clashes = [f for f in files if f.parent.resolve() == output.resolve()]
    if clashes:
        raise JobError(f"output={output} is where the inputs are ({clashes[0].name}...): results would replace them; choose another output folder.")


def denoise_files(model, files: list[Path], output: Path, image_size: int, crop: int, invert: bool, precision: str | None) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Denoise each file into ``output``; return the written files and the skipped ones with why."""
    inner = image_size - 2 * crop
    written, skipped = [], []
    for path in files:
        try:
            with Image.open(path) as image:
                gray = image.convert("L")
        except (OSError, UnidentifiedImageError, ValueError) as e:
            skipped.append((path, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'unreadable'}"))
            log.warning("%s: skipped (%s)", path, skipped[-1][1])
            continue
        size = gray.size
        pixels = np.asarray(gray.resize((inner, inner), Image.BILINEAR), dtype=np.float32) / 255.0
        if invert:
            pixels = 1.0 - pixels
        x = F.pad(torch.from_numpy(pixels).view(1, 1, inner, inner), (crop,) * 4)
        y = denoise(model, x, precision=precision)[0, 0, crop : crop + inner, crop : crop + inner].numpy()
        if invert:
            y = 1.0 - y
        result = Image.fromarray(np.round(y * 255).astype(np.uint8)).resize(size, Image.BICUBIC)
        out = output / path.name
        buffer = BytesIO()
        result.save(buffer, format=FORMATS.get(path.suffix.lower(), "PNG"))
        write_atomic(out, buffer.getvalue())
        written.append(out)
    return written, skipped


def run(cfg: DictConfig) -> tuple[list[Path], list[tuple[Path, str]]]:
    if not cfg.get("input") or not cfg.get("output"):
        raise JobError("input=<image or folder> and output=<folder> are both needed, e.g. input=scans/ output=scans_denoised/.")
    files = inputs(Path(cfg.input).expanduser())
    output = Path(cfg.output).expanduser()
    check_output(output, files)
    job = load_job(target(cfg.run, cfg.ckpt, cfg.paths.log_dir))
    model = load_model(job, cfg.ckpt)  # a bad run or checkpoint fails here, before any file is written
    if not files:
        raise JobError(f"input={cfg.input} holds no image files ({', '.join(sorted(SUFFIXES))}).")
    output.mkdir(parents=True, exist_ok=True)
    crop = int(model.hparams.get("crop", 2))
    return denoise_files(model, files, output, int(job.cfg.data.image_size), crop, bool(cfg.invert), job.precision)


@hydra.main(version_base="1.3", config_path="pkg://dae.conf", config_name="denoise")
def main(cfg: DictConfig) -> int:
    try:
        written, skipped = run(cfg)
    except JobError as e:
        raise SystemExit(f"error: {e}") from None
    print(f"denoised {len(written)} image(s) into {Path(cfg.output).expanduser().resolve()}")
    for path, why in skipped:
        print(f"skipped {path}: {why}")
    if skipped and not written:
        raise SystemExit(1)
    return len(written)


if __name__ == "__main__":
    sys.argv = quote_path_overrides(sys.argv)
    main()
