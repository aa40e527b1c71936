"""The pretrained format: a folder in the Hugging Face convention that rebuilds a trained denoiser
without the training stack or a Hydra tree.

A pretrained folder holds ``model.safetensors`` (the network's weights), ``config.json`` and a
``README.md`` model card (written by ``python -m dae.export format=pretrained``). ``config.json`` says::

    {"architecture": "conv_ae",                      # one of ARCHITECTURES, by name
     "arguments": {"latent_dim": 128, ...},          # the network's constructor arguments: numbers, strings, lists
     "preprocessing": {"digit_size": 28, "padding": 2, "value_range": [0, 1], "background": "black"}, ...}

Like a job folder, a pretrained folder is data: the architecture is picked by name from the project's
own networks, and nothing the folder names is ever imported or run. :class:`PretrainedDenoiser`
follows ``huggingface_hub``'s ``PyTorchModelHubMixin``, so ``save_pretrained``, ``push_to_hub`` and
``from_pretrained("<user>/<repo>")`` work wherever the Hub can be reached.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from dae.errors import ModelFileError, first_line, summary
from dae.models import AttentionAutoencoder, ConvAutoencoder, UNetAutoencoder, VariationalAutoencoder

# The networks a pretrained folder may name, by the name of their config in conf/model/.
ARCHITECTURES: dict[str, type[nn.Module]] = {
    "conv_ae": ConvAutoencoder,
    "unet_ae": UNetAutoencoder,
    "attention_ae": AttentionAutoencoder,
    "vae": VariationalAutoencoder,
}
CONFIG, WEIGHTS, CARD = "config.json", "model.safetensors", "README.md"
# How images reach the network: [0, 1] digits with a black background, padded by ``padding`` pixels
# (28 x 28 MNIST digits to the networks' 32 x 32), scaled to the network's [-1, 1] and back.
DEFAULT_PREPROCESSING = {"digit_size": 28, "padding": 2, "value_range": [0, 1], "background": "black"}
JSON_SCALARS = (bool, int, float, str)


class DigitDenoiser(nn.Module):
    """A denoising network with its pre- and post-processing: ``forward`` takes [0, 1] digits of
    ``digit_size`` x ``digit_size`` as ``(N, 1, H, W)`` and returns the denoised digits, the same shape;
    :meth:`encode` returns their latent vectors. What exports and ``dae.load`` run."""

    def __init__(self, net: nn.Module, padding: int = 2, digit_size: int = 28, memory_format=torch.contiguous_format) -> None:
        super().__init__()
        self.net, self.padding, self.digit_size = net, int(padding), int(digit_size)
        self.memory_format = memory_format  # a trained LightningModule's (channels-last): the same kernels, the same numbers

    @classmethod
    def of(cls, module: nn.Module, image_size: int) -> DigitDenoiser:
        """The network of a trained LightningModule (:class:`dae.denoiser.Denoiser`) for ``image_size`` inputs: the
        digit area is what its ``crop`` leaves, and inputs take its memory order."""
        crop = int(module.hparams.get("crop", 2))
        return cls(module.net, crop, int(image_size) - 2 * crop, getattr(module, "memory_format", torch.contiguous_format))

    def digit_area(self, images: torch.Tensor) -> torch.Tensor:
        """The digits inside padded ``(..., H, W)`` images (the dataset's, as the network is trained on)."""
        p = self.padding
        return images[..., p : images.shape[-2] - p, p : images.shape[-1] - p]

    def to_net(self, digits: torch.Tensor) -> torch.Tensor:
        return (F.pad(digits, (self.padding,) * 4) * 2 - 1).contiguous(memory_format=self.memory_format)

    def forward(self, digits: torch.Tensor) -> torch.Tensor:
        return self.digit_area(self.net(self.to_net(digits)).add(1).div(2).clamp(0, 1))

    def encode(self, digits: torch.Tensor) -> torch.Tensor:
        return self.net.encode(self.to_net(digits)).flatten(1)


class PretrainedDenoiser(
    DigitDenoiser,
    PyTorchModelHubMixin,
    library_name="dae",
    license="mit",
    pipeline_tag="image-to-image",
    tags=["denoising", "autoencoder", "mnist"],
):
    """A :class:`DigitDenoiser` whose network is one of :data:`ARCHITECTURES`, rebuilt from
    ``config.json`` (``from_pretrained``) and saved as a pretrained folder (``save_pretrained``)."""

    def __init__(self, architecture: str, arguments: dict, preprocessing: dict | None = None) -> None:
        preprocessing = check_preprocessing(preprocessing, arguments)
        super().__init__(build_network(architecture, arguments), preprocessing["padding"], preprocessing["digit_size"])
        self.architecture, self.arguments, self.preprocessing = architecture, dict(arguments), preprocessing

    @classmethod
    def _from_pretrained(cls, *, model_id: str, map_location: str = "cpu", strict: bool = True, **kwargs):
        """A local folder is read by :func:`load_pretrained` (checked, strict); a Hub id is fetched first."""
        folder = Path(model_id)
        if not folder.is_dir():
            from huggingface_hub import snapshot_download

            hub_args = ("revision", "cache_dir", "force_download", "local_files_only", "token")
            hub = {k: kwargs[k] for k in hub_args if k in kwargs}
            folder = Path(snapshot_download(model_id, allow_patterns=[CONFIG, WEIGHTS, CARD], **hub))
        return load_pretrained(folder).to(map_location)


def build_network(architecture, arguments) -> nn.Module:
    """The network named ``architecture`` built with ``arguments``: checked as data first (a known name,
    plain JSON values), so nothing else is ever imported or called."""
    if not isinstance(architecture, str) or architecture not in ARCHITECTURES:
        raise ModelFileError(f"architecture={architecture!r} is not one of this project's networks ({', '.join(ARCHITECTURES)}).")
    if not isinstance(arguments, dict) or not all(_plain(v) for v in arguments.values()):
        raise ModelFileError(f"arguments={arguments!r} must be an object of numbers, strings, booleans and lists of them.")
    try:
        return ARCHITECTURES[architecture](**arguments)
    except Exception as e:  # a network's own checks, or torch's on impossible sizes
        raise ModelFileError(
            f"arguments={arguments} do not build {architecture} ({summary(e)}); "
            f"export the model again, or give the arguments of conf/model/{architecture}.yaml."
        ) from None


def check_preprocessing(preprocessing, arguments) -> dict:
    """``preprocessing`` over the defaults, checked as data: whole numbers, and a padded digit the network's size."""
    merged = {**DEFAULT_PREPROCESSING, **(preprocessing if isinstance(preprocessing, dict) else {})}
    digit, padding = merged["digit_size"], merged["padding"]
    whole = all(isinstance(v, int) and not isinstance(v, bool) for v in (digit, padding))
    if (preprocessing is not None and not isinstance(preprocessing, dict)) or not whole:
        raise ModelFileError(
            f"preprocessing={preprocessing!r} must be an object with whole numbers digit_size and padding, e.g. {DEFAULT_PREPROCESSING}."
        )
    size = arguments.get("image_size", 32) if isinstance(arguments, dict) else 32
    if digit < 1 or padding < 0 or digit + 2 * padding != size:
        raise ModelFileError(
            f"preprocessing digit_size={digit} and padding={padding} do not make the network's image_size={size} "
            f"(digit_size + 2 x padding); e.g. digit_size={size - 4}, padding=2."
        )
    return merged


def _plain(value) -> bool:
    return isinstance(value, JSON_SCALARS) or (isinstance(value, list) and all(isinstance(v, JSON_SCALARS) for v in value))


def is_pretrained(folder: Path) -> bool:
    return (folder / CONFIG).is_file()


def read_config(folder: Path) -> dict:
    path = folder / CONFIG
    try:
        config = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFileError(f"{path} cannot be read as JSON ({summary(e)}); expected the config.json of a pretrained folder.") from None
    missing = [key for key in ("architecture", "arguments") if key not in config] if isinstance(config, dict) else ["architecture"]
    if missing:
        raise ModelFileError(
            f"{path} has no {', '.join(missing)}; expected a pretrained folder written by `python -m dae.export format=pretrained`."
        )
    return config


def load_pretrained(folder: str | Path) -> PretrainedDenoiser:
    """The denoiser in a pretrained folder, in eval mode on the CPU; a :class:`ModelFileError` naming the
    file if its config or weights do not make one of this project's networks."""
    folder = Path(folder)
    config = read_config(folder)
    try:
        model = PretrainedDenoiser(config["architecture"], config["arguments"], config.get("preprocessing"))
    except ModelFileError as e:
        raise ModelFileError(f"{folder / CONFIG}: {first_line(e)}") from None
    path = folder / WEIGHTS
    try:
        weights = load_file(str(path))
    except (OSError, SafetensorError) as e:
        raise ModelFileError(f"{path} cannot be read as safetensors ({summary(e)}); export the model again.") from None
    check_weights(model, weights, path, f"the {config['architecture']} of {folder / CONFIG}")
    model.load_state_dict(weights)
    return model.eval()


def check_weights(
    model: nn.Module, weights: dict, path: Path | str, what: str, error: type[Exception] = ModelFileError, fix: str = ""
) -> None:
    """An ``error`` naming the file unless ``weights`` has exactly ``model``'s tensors, in their shapes."""
    expected = model.state_dict()
    missing, extra = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
    wrong = [k for k in expected if k in weights and tuple(weights[k].shape) != tuple(expected[k].shape)]
    if missing or extra or wrong:
        detail = "; ".join(
            f"{label} {names[:3]}" + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            for label, names in (("missing", missing), ("unexpected", extra), ("of other shapes", wrong))
            if names
        )
        raise error(f"{path} does not fit {what}: tensors {detail}. It holds the weights of another network{fix}.")
