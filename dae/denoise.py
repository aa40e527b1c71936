"""Denoise your own images: ``python -m dae.denoise run=<job, pretrained folder or .onnx> input=<image or folder> output=<folder>``.

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
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from PIL import Image, UnidentifiedImageError

from dae.cli import one_line_errors, prepare_argv
from dae.errors import ConfigError, first_line, summary
from dae.images import read_image, write_image
from dae.jobs import is_job, load_job, target
from dae.loading import load

log = logging.getLogger(__name__)

SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


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


def denoise_files(denoiser, files: list[Path], targets: list[Path], invert: bool) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Denoise each file into its target with ``denoiser`` (:func:`dae.load`); return the written files
    and the skipped ones with why."""
    written, skipped = [], []
    for path, out in zip(files, targets):
        try:
            pixels, mode, low, high = read_image(path)
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            why = summary(e)
            if isinstance(e, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
                why = f"{type(e).__name__}: larger than Pillow's decompression-bomb limit of {Image.MAX_IMAGE_PIXELS} pixels ({first_line(e)})"
            skipped.append((path, why))
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
    source = target(cfg.run, cfg.ckpt, cfg.paths.log_dir)
    # a job folder (its own precision), a pretrained folder or an ONNX file; a bad one fails here, before any file is written
    denoiser = load(load_job(source) if is_job(source) else source, cfg.ckpt)
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
