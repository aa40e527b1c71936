"""Export a trained run: ``python -m dae.export run=<job folder> format=pretrained|onnx|torchscript [output=<path>]``.

Writes a pretrained folder (``model.safetensors``, ``config.json``, a ``README.md`` model card), an ONNX file
or a TorchScript file (:mod:`dae.exporting`), checked on the run's noisy test images against the PyTorch
model, and prints the check's figures. ``dae.load(<output>)`` loads a pretrained folder or an ONNX file;
``torch.jit.load(<output>)`` a TorchScript file, without this project.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from dae.cli import one_line_errors, prepare_argv
from dae.errors import ConfigError
from dae.exporting import DEFAULT_NAMES, check_output, export
from dae.jobs import load_job, target
from dae.loading import build_datamodule, load

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict:
    n_check = cfg.n_check
    if isinstance(n_check, bool) or not isinstance(n_check, int) or n_check < 1:
        raise ConfigError(f"n_check={n_check!r} must be a positive integer (default 1000).")
    job = load_job(target(cfg.run, cfg.ckpt, cfg.paths.log_dir))
    output = Path(cfg.output).expanduser() if cfg.output else job.folder / "export" / DEFAULT_NAMES.get(cfg.format, "")
    check_output(cfg.format, output, bool(cfg.overwrite))  # before any work
    denoiser = load(job, cfg.ckpt)  # a bad run or checkpoint fails here
    digits = denoiser.model.digit_area(build_datamodule(job).images("test").noisy[:n_check])
    return export(job, denoiser.module, cfg.format, output, digits, bool(cfg.overwrite))


@hydra.main(version_base="1.3", config_path="pkg://dae.conf", config_name="export")
def main(cfg: DictConfig) -> int:
    with one_line_errors(HydraConfig.get().runtime.output_dir):
        result = run(cfg)
    runtime = result["runtime"] + (f", opset {result['opset']}" if "opset" in result else "")
    print(
        f"exported {result['format']} to {result['output']} ({result['bytes'] / 1e6:.1f} MB); checked with {runtime} on "
        f"{result['images']} test images: max |difference| {result['max_abs_diff']:.2e} (latent {result['latent_max_abs_diff']:.2e}), "
        f"mean {result['mean_abs_diff']:.2e}"
    )
    return 0


if __name__ == "__main__":
    sys.argv = prepare_argv(sys.argv)
    main()
