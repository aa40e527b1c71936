"""dae: denoising autoencoders with PyTorch Lightning and Hydra.

``dae.load(path)`` loads a trained denoiser from a job folder, a pretrained folder or an ONNX file
(:mod:`dae.loading`); the commands are ``python -m dae.<name>`` (train, evaluate, export, app, ...).
"""

from dae import config as _config

_config.register()

__version__ = "0.3.0"


def __getattr__(name: str):
    # dae.load is imported on first use: `import dae` stays light for the commands and the configs' resolvers.
    if name == "load":
        from dae.loading import load

        return load
    raise AttributeError(f"module 'dae' has no attribute {name!r}")
