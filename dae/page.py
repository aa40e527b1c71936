"""The page to try a trained denoiser (``python -m dae.app``): a digit in, a noise on it, and what each
denoiser makes of it, judged by classifier M.

A digit comes from the test set (by index), from a drawing or from an uploaded image; the page puts the
chosen noise on it (seeded, so the same inputs give the same noisy image) and shows the clean, the noisy
and each denoiser's image side by side, each with M's prediction and its top probabilities. The work is
done by plain functions (:func:`load_parts`, :func:`digit_from`, :func:`corrupt`, :func:`respond`) that
the tests call without a browser; :func:`build_page` lays them out in a ``gr.Blocks`` and
:func:`launch` serves it. Gradio is the ``app`` extra, imported only where a page is built.
"""

from __future__ import annotations

import importlib.resources
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from PIL import Image, UnidentifiedImageError
from torch import nn

from dae.errors import ConfigError, first_line, integer, summary
from dae.images import resized, to_batch
from dae.inference import evaluating
from dae.jobs import Job
from dae.loading import TrainedDenoiser, build_datamodule, load
from dae.noise import Noise
from dae.scoring.classifier import load_or_train

# The noises a user can pick, with the range of their level's slider; each starts at its level in
# conf/noise/<name>.yaml. Poisson's level is a photon count: higher is cleaner.
LEVEL_RANGES = {
    "gaussian": (0.0, 1.5),
    "salt_pepper": (0.0, 1.0),
    "speckle": (0.0, 2.0),
    "periodic": (0.0, 1.0),
    "poisson": (1.0, 100.0),
    "blur": (0.0, 5.0),
    "occlusion": (0.0, 1.0),
}
# Uploads past these are refused before they are decoded (a small file can hold a huge image).
MAX_SIDE, MAX_PIXELS = 4096, 16_000_000
SCALE = 8  # each pixel of a 28 x 28 digit is shown as 8 x 8 (nearest neighbour): 224 x 224 on the page
BOX = 20  # a drawing is framed as MNIST's digits are: its strokes scaled into a 20 x 20 box, centred by mass
SOURCES = ("test digit", "drawing", "upload")
EMPTY_DRAWING = "the drawing is empty: pick the brush (left of the canvas) and draw a digit first."
CONF_NOISES = Path(str(importlib.resources.files("dae.conf"))) / "noise"  # conf/noise/, as the installed package holds it


@dataclass
class Parts:
    """What the page works with: the denoisers (``names`` for their columns), classifier M and the
    test digits (``(N, digit_size, digit_size)`` floats in [0, 1], with their labels); M reads digits
    padded to ``image_size``."""

    denoisers: list[TrainedDenoiser]
    names: list[str]
    classifier: nn.Module
    digits: torch.Tensor
    labels: torch.Tensor
    image_size: int

    @property
    def digit_size(self) -> int:
        return int(self.digits.shape[-1])


def training_config(paths: DictConfig, overrides: list[str]) -> DictConfig:
    """The project's default training config (conf/train.yaml with ``overrides``), reading data and
    classifier M from ``paths`` and never downloading: for a model that carries no config of its own."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():  # inside a Hydra app: its search path holds dae.conf
        cfg = compose("train", overrides=overrides)
    else:
        with initialize_config_module(version_base="1.3", config_module="dae.conf"):
            cfg = compose("train", overrides=overrides)
    with open_dict(cfg):
        cfg.paths.data_dir, cfg.paths.cache_dir = str(paths.data_dir), str(paths.cache_dir)
        cfg.data.source.mirrors, cfg.data.source.package_index = [], None
    return cfg


def load_parts(runs: list[str | Path], paths: DictConfig, train_overrides: list[str] = ()) -> Parts:
    """The denoisers at ``runs`` (``dae.load``), and classifier M and the test digits of the first: a job
    folder's own data and M, else those of the default training config with ``train_overrides``.
    Data is read from the data directory; M is loaded from ``paths.cache_dir`` (trained once if absent)."""
    if not runs:
        raise ConfigError("run= names no model; pass run=<job or pretrained folder>, or run=[<first>,<second>] to compare two.")
    denoisers = [load(run) for run in runs]
    first = denoisers[0]
    job = first.job or Job(Path(first.source), training_config(paths, list(train_overrides)))  # a job, for its config alone
    datamodule = build_datamodule(job)
    classifier = load_or_train(job.cfg.classifier, datamodule, paths.cache_dir)
    _, clean, labels = datamodule.images("test")
    pad = (clean.shape[-1] - first.digit_size) // 2
    digits = clean[:, 0, pad : pad + first.digit_size, pad : pad + first.digit_size]
    names = [Path(d.source).name for d in denoisers]
    return Parts(denoisers, names, classifier, digits, labels, int(clean.shape[-1]))


# ---------------------------------------------------------------- the digit


def frame(ink: np.ndarray, size: int) -> np.ndarray:
    """A drawing's strokes (float, 1 is ink) as a ``size`` x ``size`` digit the way MNIST's were made:
    cropped to the strokes, scaled into a box of ``BOX / 28`` of the side, centred by its centre of mass."""
    rows, cols = np.nonzero(ink > 0.05)
    if rows.size == 0:
        raise ConfigError(EMPTY_DRAWING)
    strokes = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    scale = round(size * BOX / 28) / max(strokes.shape)
    h, w = max(1, round(strokes.shape[0] * scale)), max(1, round(strokes.shape[1] * scale))
    small = resized(strokes, (w, h), Image.BILINEAR).clip(0, 1)
    mass = small.sum() or 1.0
    cy, cx = (small.sum(1) @ np.arange(h)) / mass, (small.sum(0) @ np.arange(w)) / mass
    top = int(np.clip(round((size - 1) / 2 - cy), 0, size - h))
    left = int(np.clip(round((size - 1) / 2 - cx), 0, size - w))
    digit = np.zeros((size, size), dtype=np.float32)
    digit[top : top + h, left : left + w] = small
    return digit


def from_drawing(value, size: int) -> np.ndarray:
    """The digit drawn on the sketchpad (its value: a dict whose ``composite`` is a gray uint8 array,
    dark strokes on white), framed like MNIST's, white on black."""
    composite = value.get("composite") if isinstance(value, dict) else None
    if composite is None:
        raise ConfigError(EMPTY_DRAWING)
    gray = np.asarray(composite, dtype=np.float32)
    gray = gray[..., :3].mean(-1) if gray.ndim == 3 else gray  # a colour canvas, if one is configured
    return frame(1.0 - gray / 255.0, size)


def from_upload(path: str | Path | None, size: int, invert: bool) -> np.ndarray:
    """The uploaded image as a digit: gray, resized to ``size`` x ``size`` (as ``python -m dae.denoise``
    does), inverted if ``invert`` (dark strokes on a light background). Refused, naming the limit, past
    ``MAX_SIDE`` pixels a side or ``MAX_PIXELS`` in all, before it is decoded."""
    if not path:
        raise ConfigError("no image uploaded: choose an image file (PNG, JPEG, BMP, TIFF, ...) in the upload box first.")
    name = Path(path).name
    too_large = (
        f"over the limit of {MAX_SIDE} x {MAX_SIDE} pixels and {MAX_PIXELS // 1_000_000} megapixels; scale it down (a digit needs 28 x 28)."
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                w, h = image.size
                if w > MAX_SIDE or h > MAX_SIDE or w * h > MAX_PIXELS:
                    raise ConfigError(f"{name} is {w} x {h} pixels, {too_large}")
                image.load()
                batch, _ = to_batch(image, size, invert)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ConfigError(f"{name} is larger than Pillow's decompression-bomb limit, {too_large}") from None
    except ConfigError:
        raise
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as e:  # Pillow raises these for broken files
        why = summary(e).replace(str(path), name)
        raise ConfigError(f"{name} cannot be read as an image ({why}); upload a PNG, JPEG, BMP or TIFF file.") from None
    return batch[0, 0].numpy()


def from_test_set(parts: Parts, index) -> tuple[np.ndarray, int]:
    """Test digit ``index`` and its label."""
    n = len(parts.digits)
    if index is None or not float(index).is_integer() or not 0 <= int(index) < n:
        raise ConfigError(f"test digit index {index} does not exist; type a whole number from 0 to {n - 1}.")
    return parts.digits[int(index)].numpy(), int(parts.labels[int(index)])


def digit_from(parts: Parts, source: str, index, drawing, upload, invert: bool) -> tuple[np.ndarray, str]:
    """The clean digit of the chosen ``source`` (one of :data:`SOURCES`), and a line saying what it is."""
    if source == "drawing":
        return from_drawing(drawing, parts.digit_size), "your drawing"
    if source == "upload":
        return from_upload(upload, parts.digit_size, invert), f"upload {Path(upload).name}"
    if source == "test digit":
        digit, label = from_test_set(parts, index)
        return digit, f"test digit {int(index)} (label {label})"
    raise ConfigError(f"source {source!r} is not one of {', '.join(SOURCES)}.")


# ---------------------------------------------------------------- noise, denoising, M


def noises() -> dict[str, Noise]:
    """The noises of :data:`LEVEL_RANGES`, each as its conf/noise/<name>.yaml builds it."""
    return {name: instantiate(OmegaConf.load(CONF_NOISES / f"{name}.yaml")) for name in LEVEL_RANGES}


def corrupt(digit: np.ndarray, noise: Noise, level: float, seed: int, image_size: int) -> np.ndarray:
    """``digit`` with ``noise`` at ``level``, drawn from a generator seeded with ``seed`` (the same inputs
    give the same noisy digit). As in training, the noise falls on the digit padded to ``image_size``;
    the digit's own area comes back."""
    noise = noise.at_level(float(level))  # a level out of the noise's range is a ConfigError naming it
    size = digit.shape[-1]
    pad = (image_size - size) // 2
    padded = F.pad(torch.from_numpy(np.ascontiguousarray(digit, dtype=np.float32))[None, None], (pad,) * 4)
    noisy = noise(padded, torch.Generator().manual_seed(int(seed)))
    return noisy[0, 0, pad : pad + size, pad : pad + size].numpy()


def probabilities(classifier: nn.Module, digit: np.ndarray, image_size: int) -> dict[str, float]:
    """M's probability of each class for ``digit``, padded with black to ``image_size`` as in training."""
    pad = (image_size - digit.shape[-1]) // 2
    x = F.pad(torch.from_numpy(np.ascontiguousarray(digit, dtype=np.float32))[None, None], (pad,) * 4)
    with evaluating(classifier):
        p = torch.softmax(classifier(x).float(), 1)[0]
    return {str(k): float(v) for k, v in enumerate(p)}


def shown(digit: np.ndarray) -> np.ndarray:
    """A [0, 1] digit as 8-bit pixels, each ``SCALE`` x ``SCALE`` (nearest neighbour), to be seen at a glance."""
    pixels = np.round(np.clip(digit, 0, 1) * 255).astype(np.uint8)
    return pixels.repeat(SCALE, 0).repeat(SCALE, 1)


def compare(parts: Parts, noise: Noise, level: float, seed: int, source: str, index, drawing, upload, invert: bool) -> tuple[str, list]:
    """One press of the page's button: a line saying what was done, and (image, M's probabilities) for the
    clean digit, the noisy one and each denoiser's output (``denoiser(noisy)``, as ``dae.load`` applies
    it). Bad input is a ConfigError naming it and the fix."""
    clean, what = digit_from(parts, source, index, drawing, upload, invert)
    noisy = corrupt(clean, noise, level, seed, parts.image_size)
    images = [clean, noisy, *(denoiser(noisy) for denoiser in parts.denoisers)]
    results = [(shown(x), probabilities(parts.classifier, x, parts.image_size)) for x in images]
    params = ", ".join(f"{k} {v:g}" for k, v in noise.at_level(float(level)).params().items())
    return f"{what}; noise {noise.name} ({params}), seed {seed}", results


def respond(parts: Parts, noise: Noise, level: float, seed: int, *inputs) -> list:
    """The page's outputs for :func:`compare`: the status line, then each column's image and M's
    probabilities; for bad input, the message in the status line and empty columns (never a traceback)."""
    try:
        status, results = compare(parts, noise, level, seed, *inputs)
    except ConfigError as e:
        return [f"**Cannot denoise:** {first_line(e, limit=1000)}", *([None, None] * (2 + len(parts.denoisers)))]
    return [status, *(item for pair in results for item in pair)]


# ---------------------------------------------------------------- the page


def gradio():
    """The gradio module, or a ConfigError naming the extra that installs it."""
    try:
        import gradio as gr
    except ImportError:
        raise ConfigError('the page needs gradio, which is not installed: pip install -e ".[app]" (the app extra).') from None
    return gr


def build_page(parts: Parts, seed: int = 0):
    """The page as a ``gr.Blocks`` (see the module's docstring); stable ``elem_id``s for tests and CSS:
    ``digit-index``, ``sketch``, ``upload``, ``invert``, ``noise``, ``level``, ``denoise``, ``status``, and
    ``clean``, ``noisy``, ``denoised-<i>`` for the images with ``pred-<same>`` for M's labels."""
    gr = gradio()
    seed = integer("seed", seed)
    all_noises = noises()
    first = next(iter(all_noises))
    columns = ["clean", "noisy", *(f"denoised-{i}" for i in range(len(parts.denoisers)))]
    titles = ["clean", "noisy", *(f"denoised: {name}" for name in parts.names)]

    def level_slider(name: str, **kwargs):
        """The level slider for noise ``name``, at its default level (also the update when the noise changes)."""
        noise = all_noises[name]
        low, high = LEVEL_RANGES[name]
        return gr.Slider(low, high, value=getattr(noise, noise.level_name), step=0.01, label=f"level ({noise.level_name})", **kwargs)

    def on_press(source, index, drawing, upload, invert, name, level):
        return respond(parts, all_noises[name], level, seed, source, index, drawing, upload, invert)

    with gr.Blocks(title="dae: try a denoiser", analytics_enabled=False) as page:
        gr.Markdown(
            f"# Try a denoiser\n{', '.join(f'`{n}`' for n in parts.names)}, judged by classifier M. "
            "Pick a test digit, draw one or upload an image, choose a noise, and press **Denoise**."
        )
        source = gr.State(SOURCES[0])
        with gr.Row():
            with gr.Column():
                with gr.Tabs():
                    with gr.Tab("test digit") as tab_test:
                        index = gr.Number(0, precision=0, label=f"test digit (0 to {len(parts.digits) - 1})", elem_id="digit-index")
                    with gr.Tab("drawing") as tab_draw:
                        sketch = gr.Sketchpad(
                            image_mode="L",
                            canvas_size=(280, 280),
                            brush=gr.Brush(default_size=12, colors=["#000000"], color_mode="fixed"),
                            layers=False,
                            transforms=(),
                            label="draw a digit",
                            elem_id="sketch",
                        )
                    with gr.Tab("upload") as tab_upload:
                        upload = gr.File(type="filepath", label="an image of a digit", elem_id="upload")
                        invert = gr.Checkbox(False, label="dark digit on a light background (invert it)", elem_id="invert")
                for tab, name in zip((tab_test, tab_draw, tab_upload), SOURCES):
                    tab.select(lambda name=name: name, None, source)
            with gr.Column():
                noise = gr.Radio(list(all_noises), value=first, label="noise", elem_id="noise")
                level = level_slider(first, elem_id="level")
                button = gr.Button("Denoise", variant="primary", elem_id="denoise")
                status = gr.Markdown(elem_id="status")
        outputs = [status]
        with gr.Row():
            for column, title in zip(columns, titles):
                with gr.Column(min_width=160):
                    image = gr.Image(
                        label=title, format="png", height=SCALE * 28, interactive=False, buttons=["download", "fullscreen"], elem_id=column
                    )
                    outputs.append(image)
                    outputs.append(gr.Label(num_top_classes=3, label="M predicts", elem_id=f"pred-{column}"))
        noise.change(level_slider, noise, level)
        button.click(on_press, [source, index, sketch, upload, invert, noise, level], outputs)
    return page


def launch(page, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Serve ``page`` at ``http://host:port`` (no share link, nothing fetched from outside the machine),
    in a thread: returns once it is up; ``page.block_thread()`` waits for Ctrl-C, ``page.close()`` stops
    it. A port in use is a ConfigError naming it."""
    port = integer("port", port)
    if not 0 < port < 65536:
        raise ConfigError(f"port={port} is not a TCP port; pass port=<1 to 65535>, e.g. port=7860.")
    try:
        page.launch(
            server_name=host, server_port=port, share=False, prevent_thread_lock=True, ssr_mode=False, max_file_size="64mb", quiet=True
        )
    except OSError as e:
        if "Cannot find empty port" not in str(e):
            raise
        raise ConfigError(
            f"port={port} on {host} is in use (another program, or another page, serves there); pass port=<a free port>."
        ) from None
