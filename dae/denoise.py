"""Denoise your own images: ``python -m dae.denoise run=<job, pretrained folder or .onnx> input=<image or folder> output=<folder>``.

Each grayscale image (PNG, JPEG, BMP, TIFF, GIF; colour is converted to gray) of any size is resized to
the digit area the model was trained on (28 x 28 for MNIST), padded to its input size (32 x 32) as in
training, denoised, cropped back and resized to its own size. The result is written into ``output``
under the same file name and format, and in the input's bit depth where the format stores it (16-bit
PNG and TIFF, 32-bit and float TIFF; otherwise 8-bit, as the log says). The models here learned white
digits on black: for dark strokes on a light background pass ``invert=true`` (inverted before, and
back after). A file that cannot be read is reported and skipped; the others are processed. A file of
several frames (an animated GIF or PNG, a multi-page TIFF) is skipped and said: save the frame you
want as its own PNG.

Nothing is written onto an input. Each result is written whole or not at all (a temporary file, then
a rename), and listed in ``output/.dae-denoise.jsonl`` (one line per result: its input, ``run``,
``ckpt`` and ``invert``). A result already in ``output`` is kept and reported as already denoised when
that list says this command wrote it from the same input, unchanged since, with the same run, ckpt
and invert, and the result is unchanged too; any other file in the way is replaced only with
``overwrite=true`` (which redoes every result). So a run that stops (a full disk, a quota, a
read-only folder: one error line saying how many images were written and which one failed) is
finished by running the same command again.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from contextlib import suppress
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from PIL import Image, UnidentifiedImageError

from dae.cli import one_line_errors, prepare_argv
from dae.errors import ConfigError, first_line, summary
from dae.images import FramesError, read_image, write_image
from dae.jobs import is_job, load_job, target
from dae.loading import load

log = logging.getLogger(__name__)

SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif"}
RECORDS = ".dae-denoise.jsonl"  # in the output folder: one JSON line per result written, what a rerun keeps


class ResultWriteError(ConfigError):
    """A result that could not be written (a full disk, a quota, a file-size limit, a read-only folder):
    the results before it are whole and listed, so that running the same command again finishes the rest."""


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


def destinations(files: list[Path], output: Path, overwrite: bool, done: frozenset[Path] = frozenset()) -> list[Path]:
    """Where each result goes (``output/<name>``), checked before any work: never onto a file that is
    one of the inputs (through a link, a hard link or a ``..`` path), and never over an existing file
    unless ``overwrite`` or it is the result of an input in ``done`` (:func:`finished`)."""
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
        if (target.exists() or target.is_symlink()) and not overwrite and f not in done:
            raise ConfigError(
                f"output={output} already holds {target.name}, not written from this input by this command with the same run, "
                "ckpt and invert; pass overwrite=true to replace it, or choose an empty output folder."
            )
        targets.append(target)
    return targets


def stamp(path: Path) -> dict:
    """What tells whether a file changed: its size and modification time."""
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def record(source: Path, before: dict, out: Path, settings: dict) -> dict:
    """The line of :data:`RECORDS` for ``out``, written from ``source`` (``before``: its :func:`stamp` when read)."""
    return {"output": out.name, "input": str(source.resolve()), "input_stamp": before, "output_stamp": stamp(out), **settings}


def read_records(output: Path) -> dict[str, dict]:
    """The lines of ``output``'s :data:`RECORDS` by result name, the latest for each; none if it is missing or
    unreadable (a torn last line, from a crash, is left out)."""
    try:
        lines = (output / RECORDS).read_text().splitlines()
    except (OSError, ValueError):
        return {}
    found = {}
    for line in lines:
        with suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict) and isinstance(entry.get("output"), str):
                found[entry["output"]] = entry
    return found


def append_record(output: Path, entry: dict) -> None:
    """Add ``entry`` as one line to ``output``'s :data:`RECORDS`, on disk when this returns."""
    with open(output / RECORDS, "a+b") as f:
        start = b""
        if f.seek(0, os.SEEK_END):
            f.seek(-1, os.SEEK_END)
            start = b"" if f.read(1) == b"\n" else b"\n"  # after a torn line, a line of its own
        f.write(start + json.dumps(entry).encode() + b"\n")
        f.flush()
        os.fsync(f.fileno())


def finished(files: list[Path], output: Path, settings: dict) -> frozenset[Path]:
    """The inputs whose result in ``output`` this command wrote before: listed in :data:`RECORDS` with this input,
    unchanged since, the same ``settings``, and the result unchanged too."""
    records = read_records(output)
    done = set()
    for f in files:
        out = output / f.name
        entry = records.get(f.name)
        with suppress(OSError):
            if entry is not None and out.is_file() and not out.is_symlink() and entry == record(f, stamp(f), out, settings):
                done.add(f)
    return frozenset(done)


def stopped(written: list[Path], total: int, failed: Path, error: OSError) -> str:
    """The error line of a run stopped by ``error`` while writing ``failed``: what was written, what was not, how to finish."""
    names = [p.name for p in written]
    listed = f" ({', '.join(names) if len(names) <= 5 else f'{names[0]} to {names[-1]}'})" if names else ""
    rest = total - len(written) - 1
    left = f"it and the {rest} after it were" if rest else "it was"
    return (
        f"output={failed.parent}: wrote {len(written)} of {total} image(s){listed}, then could not write {failed.name} "
        f"({summary(error)}): {left} not written. Free space (or make the folder writable) and run the same command again: "
        "it keeps the images already denoised and writes the rest, without overwrite=true."
    )


def denoise_files(
    denoiser, files: list[Path], targets: list[Path], invert: bool, settings: dict | None = None
) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Denoise each file into its target with ``denoiser`` (:func:`dae.load`); return the written files
    and the skipped ones with why. With ``settings`` (run, ckpt and invert), each result is listed
    in its folder's :data:`RECORDS`. A result that cannot be written stops the run: :class:`ResultWriteError`."""
    written, skipped = [], []
    for path, out in zip(files, targets):
        try:
            before = stamp(path) if settings is not None else None  # the input as read, for its record
            pixels, mode, low, high = read_image(path)
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            why = first_line(e) if isinstance(e, FramesError) else summary(e)
            if isinstance(e, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
                why = f"{type(e).__name__}: larger than Pillow's decompression-bomb limit of {Image.MAX_IMAGE_PIXELS} pixels ({first_line(e)})"
            skipped.append((path, why))
            log.warning("%s: skipped (%s)", path, skipped[-1][1])
            continue
        try:
            write_image(denoiser(pixels, invert=invert), out, mode, low, high)
        except OSError as e:
            raise ResultWriteError(stopped(written, len(files), out, e)) from e
        if settings is not None:
            try:
                append_record(out.parent, record(path, before, out, settings))
            except OSError as e:
                with suppress(OSError):
                    out.unlink()  # a result that is not listed would be refused by the next run
                raise ResultWriteError(stopped(written, len(files), out, e)) from e
        written.append(out)
    return written, skipped


def run(cfg: DictConfig) -> tuple[list[Path], list[tuple[Path, str]], list[Path]]:
    """Denoise ``cfg.input`` into ``cfg.output``: the results written, the files skipped with why, and the
    results kept from an earlier run of the same command (:func:`finished`)."""
    if not cfg.get("input") or not cfg.get("output"):
        raise ConfigError("input=<image or folder> and output=<folder> are both needed, e.g. input=scans/ output=scans_denoised/.")
    files, not_images = inputs(Path(cfg.input).expanduser())
    output = Path(cfg.output).expanduser()
    if output.exists() and not output.is_dir():
        raise ConfigError(f"output={output} is a file; expected a folder for the results (it is made if it does not exist).")
    source = target(cfg.run, cfg.ckpt, cfg.paths.log_dir)
    settings = {"run": str(Path(source).resolve()), "ckpt": str(Path(cfg.ckpt).expanduser().resolve()) if cfg.ckpt else None}
    settings["invert"] = bool(cfg.invert)
    overwrite = bool(cfg.get("overwrite", False))
    done = frozenset() if overwrite else finished(files, output, settings)
    targets = destinations(files, output, overwrite, done)
    # a job folder (its own precision), a pretrained folder or an ONNX file; a bad one fails here, before any file is written
    denoiser = load(load_job(source) if is_job(source) else source, cfg.ckpt)
    if not files:
        raise ConfigError(f"input={cfg.input} holds no image files ({', '.join(sorted(SUFFIXES))}).")
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ResultWriteError(f"output={output} cannot be made ({summary(e)}); choose a folder you can write to.") from e
    todo = [(f, t) for f, t in zip(files, targets) if f not in done]
    written, skipped = denoise_files(denoiser, [f for f, _ in todo], [t for _, t in todo], settings["invert"], settings)
    return written, not_images + skipped, [t for f, t in zip(files, targets) if f in done]


@hydra.main(version_base="1.3", config_path="pkg://dae.conf", config_name="denoise")
def main(cfg: DictConfig) -> int:
    with one_line_errors(HydraConfig.get().runtime.output_dir):
        written, skipped, done = run(cfg)
    print(f"denoised {len(written)} image(s) into {Path(cfg.output).expanduser().resolve()}")
    if done:
        print(f"already denoised {len(done)} image(s) there by an earlier run of this command: kept (overwrite=true redoes them)")
    for path, why in skipped:
        print(f"skipped {path}: {why}")
    if skipped and not written and not done:
        raise SystemExit(1)
    return len(written)


if __name__ == "__main__":
    sys.argv = prepare_argv(sys.argv)
    main()
