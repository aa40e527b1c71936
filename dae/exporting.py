"""Exporting a trained denoiser: a pretrained folder (safetensors, config.json, a model card), an ONNX file
or a TorchScript file, each checked against the PyTorch model before it is kept.

Every format holds the network with its pre- and post-processing (:class:`~dae.pretrained.DigitDenoiser`):
the input is ``digits``, ``(N, 1, 28, 28)`` float images in [0, 1] with a black background, for any N; the
outputs are ``denoised`` (the same shape) and ``latent`` (``(N, latent_dim)``). An export is written
beside its destination and renamed into place only after its check passed: a failed export leaves no file.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf
from torch import nn

from dae import __version__
from dae.errors import ModelFileError, summary
from dae.files import UMASK, write_atomic, write_text
from dae.jobs import Job, read_json
from dae.pretrained import ARCHITECTURES, DEFAULT_PREPROCESSING, DigitDenoiser, PretrainedDenoiser

log = logging.getLogger(__name__)

FORMATS = ("pretrained", "onnx", "torchscript")
DEFAULT_NAMES = {"pretrained": "pretrained", "onnx": "model.onnx", "torchscript": "model.torchscript.pt"}
TOLERANCE = 1e-4  # the largest difference from the PyTorch model an export may show, in float32


class WithLatent(nn.Module):
    """``digits -> (denoised, latent)``: the two outputs of an exported file."""

    def __init__(self, model: DigitDenoiser) -> None:
        super().__init__()
        self.model = model

    def forward(self, digits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model(digits), self.model.encode(digits)


def architecture_of(net: nn.Module, job: Job) -> str:
    """The name under which a pretrained folder rebuilds ``net``; a :class:`ModelFileError` for a network that is not the project's."""
    for name, cls in ARCHITECTURES.items():
        if type(net) is cls:
            return name
    raise ModelFileError(
        f"{job.folder}: model.net._target_={job.cfg.model.net.get('_target_')} is not one of the networks a pretrained folder "
        f"can name ({', '.join(ARCHITECTURES)}); export it as onnx or torchscript instead."
    )


def pretrained_model(job: Job, module) -> PretrainedDenoiser:
    """The job's network as a :class:`PretrainedDenoiser` with the job's weights, in float32 on the CPU."""
    arguments = {k: v for k, v in OmegaConf.to_container(job.cfg.model.net, resolve=True).items() if not k.startswith("_")}
    plain = DigitDenoiser.of(module, job.cfg.data.image_size)
    preprocessing = {**DEFAULT_PREPROCESSING, "padding": plain.padding, "digit_size": plain.digit_size}
    model = PretrainedDenoiser(architecture_of(module.net, job), arguments, preprocessing)
    model.net.load_state_dict({k: v.float() for k, v in module.net.state_dict().items()})
    return model.eval()


def plain_model(job: Job, module) -> DigitDenoiser:
    """The job's network with its pre- and post-processing, in float32 on the CPU (any network, the project's or not)."""
    model = DigitDenoiser.of(module, job.cfg.data.image_size)
    model.memory_format = torch.contiguous_format  # an exported graph takes plain tensors
    return model.float().cpu().eval()


def example(digits: torch.Tensor) -> torch.Tensor:
    """Two digits to trace with (the first, twice, if only one is given): a batch dimension of 1 would be taken
    for a constant by ``torch.export``, and the check then runs on the other sizes."""
    return digits[:1].expand(2, *digits.shape[1:]).clone()


def check(run, reference: DigitDenoiser, digits: torch.Tensor, fmt: str) -> dict:
    """Run an export (``run``: digits -> (denoised, latent) as arrays) and the PyTorch model on the same
    digits; a :class:`ModelFileError` if they differ by more than :data:`TOLERANCE`."""
    with torch.no_grad():
        want_y, want_z = reference(digits).numpy(), reference.encode(digits).numpy()
    got_y, got_z = run(digits)
    diff_y, diff_z = np.abs(np.asarray(got_y) - want_y), np.abs(np.asarray(got_z) - want_z)
    result = {
        "images": len(digits),
        "max_abs_diff": float(diff_y.max()),
        "mean_abs_diff": float(diff_y.mean()),
        "latent_max_abs_diff": float(diff_z.max()),
    }
    if not (result["max_abs_diff"] <= TOLERANCE and result["latent_max_abs_diff"] <= TOLERANCE):
        raise ModelFileError(
            f"format={fmt}: the exported model differs from the PyTorch model by {result['max_abs_diff']:.2e} "
            f"(latent {result['latent_max_abs_diff']:.2e}) on {len(digits)} test images, over the {TOLERANCE:g} allowed; nothing was written."
        )
    return result


def export_onnx(model: DigitDenoiser, path: Path, digits: torch.Tensor, metadata: dict) -> dict:
    """``model`` as ONNX at ``path``, the batch size dynamic, at the opset torch's exporter recommends;
    checked with onnxruntime on ``digits``."""
    try:
        import onnx
        import onnxruntime as ort
    except ImportError:
        raise ModelFileError('format=onnx needs onnx and onnxruntime: pip install -e ".[export]".') from None
    with _scratch(path) as tmp:
        with warnings.catch_warnings(), _quiet("torch.onnx", "onnx_ir", "onnxscript"):
            warnings.simplefilter("ignore")
            try:
                torch.onnx.export(
                    WithLatent(model),
                    (example(digits),),
                    str(tmp),
                    input_names=["digits"],
                    output_names=["denoised", "latent"],
                    dynamic_shapes=({0: torch.export.Dim("batch")},),
                    dynamo=True,
                    external_data=False,
                )
            except Exception as e:  # the exporter raises many types; the message says which operation failed
                raise ModelFileError(
                    f"format=onnx: torch's exporter could not export this model ({summary(e, limit=300)}); nothing was written."
                ) from None
        proto = onnx.load(str(tmp))
        for key, value in metadata.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)
        data = proto.SerializeToString()
        try:
            onnx.checker.check_model(proto)
            session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnx's and onnxruntime's own exception types
            raise ModelFileError(
                f"format=onnx: the exported graph does not load in onnxruntime ({summary(e)}); try format=torchscript."
            ) from None
        result = check(lambda x: session.run(None, {"digits": x.numpy()}), model, digits, "onnx")
        opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
        write_atomic(path, data)
    return {**result, "opset": opset, "runtime": f"onnxruntime {ort.__version__}"}


def export_torchscript(model: DigitDenoiser, path: Path, digits: torch.Tensor, metadata: dict) -> dict:
    """``model`` traced to TorchScript at ``path``: ``torch.jit.load`` runs it without this project; checked on ``digits``."""
    with _scratch(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            traced = torch.jit.trace(WithLatent(model), example(digits), check_trace=False)
        except Exception as e:  # an operation TorchScript cannot record
            raise ModelFileError(f"format=torchscript: this model cannot be traced ({summary(e)}); try format=onnx.") from None
        torch.jit.save(traced, str(tmp), _extra_files={"dae.json": json.dumps(metadata)})
        loaded = torch.jit.load(str(tmp))

        def run(x):
            with torch.no_grad():
                y, z = loaded(x)
            return y.numpy(), z.numpy()

        result = check(run, model, digits, "torchscript")
        write_atomic(path, tmp.read_bytes())
    return {**result, "runtime": f"torch.jit {torch.__version__}"}


def export_pretrained(model: PretrainedDenoiser, folder: Path, digits: torch.Tensor, card: str, extra: dict, grid: Path | None) -> dict:
    """A pretrained folder at ``folder``: written into a scratch folder beside it, loaded back and
    checked on ``digits``, then renamed into place."""
    from dae.pretrained import load_pretrained

    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".part"))
    try:
        write_text(scratch / "README.md", card)  # save_pretrained keeps a model card already there
        config = {"architecture": model.architecture, "arguments": model.arguments, "preprocessing": model.preprocessing, **extra}
        model.save_pretrained(scratch, config=config)
        if grid is not None and grid.is_file():
            shutil.copyfile(grid, scratch / grid.name)
        for path in (scratch, *scratch.iterdir()):  # mkdtemp's and safetensors' private modes: an export is an ordinary folder
            path.chmod((0o777 if path.is_dir() else 0o666) & ~UMASK)
        loaded = load_pretrained(scratch)

        def run(x):
            with torch.no_grad():
                return loaded(x).numpy(), loaded.encode(x).numpy()

        result = check(run, model, digits, "pretrained")
        old = folder.with_name(f".{folder.name}.old-{os.getpid()}") if folder.exists() else None
        if old is not None:
            os.replace(folder, old)  # set aside, not removed, until the new folder is in place
        os.replace(scratch, folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return {**result, "runtime": "dae.load / PretrainedDenoiser.from_pretrained"}


@contextmanager
def _scratch(path: Path):
    """A scratch file name in a fresh folder beside ``path``, removed afterwards."""
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part"))
    try:
        yield folder / path.name
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def _quiet(*names: str):
    """The loggers ``names`` at WARNING for the block (torch's ONNX exporter and its passes log every step at INFO)."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def model_card(job: Job, architecture: str, grid: Path | None) -> str:
    """A model card written from the run: what the model is and what it was trained on, its test figures, the
    command that trained it, and its reconstruction grid."""
    from hydra.utils import instantiate

    noise = instantiate(job.cfg.noise)
    level = ", ".join(f"{k} = {v:g}" for k, v in noise.params().items()) or "no level"
    metrics, report = read_json(job.folder / "metrics.json"), read_json(job.folder / "classifier_report.json")
    dataset = OmegaConf.select(job.cfg, "data.source.name", default="MNIST")
    command = shlex.join(["python", "-m", "dae.train", *job.overrides])
    lines = [
        "---",
        "library_name: dae",
        "license: mit",
        "pipeline_tag: image-to-image",
        "tags: [denoising, autoencoder, mnist, pytorch_model_hub_mixin]",
        "---",
        "",
        f"# {architecture} denoiser: {dataset} digits, {noise.name} noise ({level})",
        "",
        f"A denoising autoencoder (`model={architecture}`) trained with dae {__version__} "
        f"to remove {noise.name} noise ({level}) from {dataset} digits: white strokes on black, 28 x 28 pixels in [0, 1].",
        "",
        "```python",
        "import dae",
        'd = dae.load("<this folder>")   # or PretrainedDenoiser.from_pretrained("<user>/<repo>") from dae.pretrained',
        "clean = d(noisy)                 # a numpy array, a PIL image or a tensor; the same type back",
        "```",
        "",
        "## Test figures",
        "",
    ]
    if metrics:
        lines += [
            "| test PSNR (dB) | noisy input PSNR (dB) | SSIM | epochs | precision |",
            "| --- | --- | --- | --- | --- |",
            f"| {metrics.get('test/psnr', float('nan')):.2f} | {metrics.get('test/noisy_psnr', float('nan')):.2f} | "
            f"{metrics.get('test/ssim', float('nan')):.4f} | {metrics.get('epochs', '-')} | {metrics.get('precision', '-')} |",
            "",
        ]
    if report:
        names = [n for n in ("clean", "noisy", "denoised", "reconstructed") if n in report]
        lines += [
            "Classifier M (a CNN trained on clean digits) reads the test images as:",
            "",
            "| " + " | ".join(names) + " |",
            "| " + " | ".join("---" for _ in names) + " |",
            "| " + " | ".join(f"{report[n]['accuracy']:.4f}" for n in names) + " |",
            "",
        ]
    if not metrics and not report:
        lines += ["The run left no test figures.", ""]
    lines += ["## Training", "", "```bash", command, "```", ""]
    if grid is not None and grid.is_file():
        lines += ["Original, noisy and denoised test digits, one column per digit:", "", f"![reconstructions]({grid.name})", ""]
    return "\n".join(lines)


def check_output(fmt: str, output: Path, overwrite: bool) -> None:
    """A :class:`ModelFileError` for an unknown format, or an output that exists (unless ``overwrite``) or is
    of the other kind (a file where a folder goes)."""
    if fmt not in FORMATS:
        raise ModelFileError(f"format={fmt} is not one of {', '.join(FORMATS)}; e.g. format=onnx.")
    if output.is_symlink():
        raise ModelFileError(f"output={output} is a link; an export replaces only plain files and folders: pass the path it points to.")
    if output.exists() and not overwrite:
        raise ModelFileError(f"output={output} exists; pass overwrite=true to replace it, or choose another output.")
    kind, wanted = ("folder" if output.is_dir() else "file"), ("folder" if fmt == "pretrained" else "file")
    if output.exists() and kind != wanted:
        raise ModelFileError(f"output={output} is a {kind}; format={fmt} writes a {wanted}: choose another output.")


def export(job: Job, module, fmt: str, output: Path, digits: torch.Tensor, overwrite: bool = False) -> dict:
    """Export the job's trained ``module`` as ``fmt`` to ``output``, checked on ``digits`` ((N, 1, 28, 28)
    test images in [0, 1]); returns what was written and the check's figures."""
    check_output(fmt, output, overwrite)
    grid = job.folder / "reconstructions.png"
    metadata = {
        "producer": f"dae {__version__}",
        "preprocessing": {
            **DEFAULT_PREPROCESSING,
            "digit_size": int(digits.shape[-1]),
            "padding": (int(job.cfg.data.image_size) - int(digits.shape[-1])) // 2,
        },
        "inputs": "digits: (N, 1, H, W) float32 images in [0, 1], white strokes on black, H = W = digit_size",
        "outputs": "denoised: the same shape; latent: (N, latent_dim)",
        "trained": shlex.join(["python", "-m", "dae.train", *job.overrides]),
    }
    if fmt == "pretrained":
        model = pretrained_model(job, module)
        extra = {"dae_version": __version__, "trained": metadata["trained"]}
        result = export_pretrained(model, output, digits, model_card(job, model.architecture, grid), extra, grid)
    else:
        model = plain_model(job, module)
        result = (export_onnx if fmt == "onnx" else export_torchscript)(model, output, digits, metadata)
    size = sum(p.stat().st_size for p in output.rglob("*") if p.is_file()) if output.is_dir() else output.stat().st_size
    return {"format": fmt, "output": str(output), "bytes": size, **result}
