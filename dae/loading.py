"""Loading a trained denoiser, whatever the source: ``dae.load(path)``.

``path`` is a job folder (``python -m dae.train``'s), a pretrained folder or an ONNX file
(``python -m dae.export``'s). What comes back is a :class:`TrainedDenoiser`: call it on images (a numpy
array, a PIL image, a torch tensor, or a list of them) to get them denoised, in the same type and shape;
:meth:`TrainedDenoiser.encode` gives their latent vectors::

    import dae
    d = dae.load("outputs/runs/<time>")
    clean = d(noisy)                      # uint8 (H, W) in, uint8 (H, W) out
    z = d.encode(noisy)                   # (latent_dim,)

Images are preprocessed as ``python -m dae.denoise`` does: gray, resized to the digit size (28 x 28),
padded as in training, and resized back. The tools that read a job (``dae.denoise``, ``dae.evaluate``,
the probe) load it here too.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from PIL.Image import Image

from dae.errors import JobError, ModelFileError, summary
from dae.images import to_batch
from dae.inference import autocast, evaluating, in_batches
from dae.jobs import Job, is_job, is_sweep, load_job
from dae.pretrained import DigitDenoiser, check_weights, is_pretrained, load_pretrained


def load_model(job: Job, ckpt: str | Path | None = None) -> torch.nn.Module:
    """The job's LightningModule, rebuilt from its config, with the checkpoint's weights (eval mode, CPU)."""
    path = Path(ckpt) if ckpt else job.checkpoint()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        weights = state["state_dict"]
    except Exception as e:
        what = (
            "is empty (0 bytes)"
            if path.is_file() and path.stat().st_size == 0
            else f"could not be read as a Lightning checkpoint ({summary(e)})"
        )
        raise JobError(f"ckpt={path} {what}; expected a .ckpt written by `python -m dae.train`.") from None
    model = fitted_model(job, weights, f"ckpt={path}", f"; pass the checkpoint of the run in {job.folder}")
    model.load_state_dict(weights)
    return model.eval()


def fitted_model(job: Job, weights: dict, label: str, fix: str) -> torch.nn.Module:
    """The job's LightningModule rebuilt from its config (no weights loaded), or a :class:`~dae.errors.JobError`
    naming ``label`` (the checkpoint) unless ``weights`` has exactly its tensors, in their shapes."""
    model = instantiate(job.cfg.model, loss=instantiate(job.cfg.loss), scheduler=None)
    check_weights(model, weights, label, f"this job's model ({job.cfg.model.net._target_})", JobError, fix)
    return model


def build_datamodule(job: Job, noise_cfg: DictConfig | None = None, prepare: bool = True):
    """The job's data module (its dataset and noise, or ``noise_cfg``), set up."""
    cfg = job.cfg
    noise = instantiate(noise_cfg if noise_cfg is not None else cfg.noise)
    datamodule = instantiate(cfg.data, noise=noise)
    if prepare:
        datamodule.prepare_data()
        datamodule.setup()
    return datamodule


CHUNK = 1000  # images per forward pass: any number of images is denoised in batches of this size


class TrainedDenoiser:
    """A trained denoiser ready for inference (see the module's docstring). ``model`` maps
    ``(N, 1, digit_size, digit_size)`` [0, 1] batches to denoised batches, and to latent vectors with
    ``encode``. From a job folder, ``job`` and ``module`` (its LightningModule) are set too, and it
    runs at the precision the job trained at, as the job's own figures were made."""

    def __init__(
        self,
        model,
        source: Path,
        digit_size: int = 28,
        precision: str | None = None,
        job: Job | None = None,
        module=None,
    ) -> None:
        self.model, self.source, self.digit_size, self.precision = model, source, digit_size, precision
        self.job, self.module = job, module

    def __repr__(self) -> str:
        return f"TrainedDenoiser({self.source})"

    def _run(self, fn, batch: torch.Tensor) -> torch.Tensor:
        """``fn`` on ``batch`` in chunks of :data:`CHUNK` images, on the model's device and at its precision; on the CPU."""
        if not isinstance(self.model, torch.nn.Module):
            return torch.cat([fn(batch[i : i + CHUNK]) for i in range(0, len(batch), CHUNK)])
        device = next(self.model.parameters()).device
        with evaluating(self.model), autocast(self.precision, device):
            return in_batches(fn, batch, device, CHUNK)

    def denoise_batch(self, digits: torch.Tensor) -> torch.Tensor:
        """Denoised ``(N, 1, digit_size, digit_size)`` [0, 1] digits, the same shape, on the CPU."""
        return self._run(self.model, digits)

    def __call__(self, images, invert: bool = False):
        """``images`` denoised: the same type, shape and value range (see :mod:`dae.images`).
        ``invert=True`` for dark strokes on a light background (the models learned white on black)."""
        batch, restore = to_batch(images, self.digit_size, invert)
        return restore(self.denoise_batch(batch))

    def encode(self, images, invert: bool = False):
        """Latent vectors: ``(latent_dim,)`` for one image (a PIL image, or a 2-D array or tensor), else
        ``(N, latent_dim)``; a tensor on the input's device for a tensor, else a numpy array."""
        batch, _ = to_batch(images, self.digit_size, invert)
        z = self._run(self.model.encode, batch)
        single = isinstance(images, Image) or (not isinstance(images, (list, tuple)) and getattr(images, "ndim", 0) == 2)
        z = z[0] if single else z
        return z.to(images.device) if isinstance(images, torch.Tensor) else z.numpy()


class OnnxDenoiser:
    """An exported ONNX file run by onnxruntime: ``(N, 1, d, d)`` [0, 1] digits in, denoised digits
    out, and their latent vectors from :meth:`encode`."""

    def __init__(self, path: Path) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise ModelFileError(f'{path}: running an ONNX file needs onnxruntime: pip install -e ".[export]".') from None
        try:
            self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types for unreadable files
            raise ModelFileError(f"{path} cannot be read as an ONNX model ({summary(e)}); export it again.") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        try:
            self.digit_size = int(json.loads(meta["preprocessing"])["digit_size"])
        except (KeyError, ValueError, TypeError):
            raise ModelFileError(
                f"{path} has no dae preprocessing metadata; expected a file written by `python -m dae.export format=onnx`."
            ) from None

    def _outputs(self, digits: torch.Tensor) -> list[np.ndarray]:
        return self.session.run(None, {"digits": digits.float().numpy()})

    def __call__(self, digits: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self._outputs(digits)[0])

    def encode(self, digits: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self._outputs(digits)[1])


def load(source: str | Path | Job, ckpt: str | Path | None = None, device: str | torch.device = "cpu") -> TrainedDenoiser:
    """The trained denoiser at ``source``: a job folder (its best checkpoint, or ``ckpt``), a pretrained
    folder, an ONNX file, or a :class:`~dae.jobs.Job` already read. Raises a :class:`~dae.errors.JobError`
    or :class:`~dae.errors.ModelFileError` that names the file and what was expected."""
    if isinstance(source, Job):
        return from_job(source, ckpt, device)
    path = Path(source).expanduser()
    if ckpt is not None and not (path.is_dir() and is_job(path)):
        raise ModelFileError(f"ckpt={ckpt} is for a job folder's checkpoints; {path} is not a job folder: load it without ckpt.")
    if path.is_file() and path.suffix == ".onnx":
        runner = OnnxDenoiser(path)
        return TrainedDenoiser(runner, path, runner.digit_size)
    if path.is_dir() and is_job(path):
        return from_job(load_job(path), ckpt, device)
    if path.is_dir() and is_pretrained(path):
        model = load_pretrained(path).to(device)
        return TrainedDenoiser(model, path, model.digit_size)
    if not path.exists():
        raise ModelFileError(f"{path} does not exist; expected a job folder, a pretrained folder (config.json) or an .onnx file.")
    hint = " It is a sweep folder: pass one of its jobs." if path.is_dir() and is_sweep(path) else ""
    raise ModelFileError(
        f"{path} is not a trained denoiser: expected a job folder (.hydra/config.yaml), a pretrained folder "
        f"(config.json and model.safetensors) or an .onnx file.{hint}"
    )


def from_job(job: Job, ckpt: str | Path | None = None, device: str | torch.device = "cpu") -> TrainedDenoiser:
    """The denoiser of a job read with :func:`~dae.jobs.load_job`: its LightningModule with the weights of
    ``ckpt`` (default: the best checkpoint), run at the job's precision."""
    module = load_model(job, ckpt).to(device)
    model = DigitDenoiser.of(module, job.cfg.data.image_size)
    return TrainedDenoiser(model, job.folder, model.digit_size, job.precision, job, module)
